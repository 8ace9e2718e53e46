import type { Knex } from 'knex';

/**
 * messages.idx_status_scheduled (status, scheduled_time) leads with a column of six values and answers
 * no query: every status filter on messages comes with its account (idx_account_claim: claims, orphans,
 * next retry time, the sweeper), its task (idx_batch_status) or its tenant (idx_tenant_time_status).
 * It did cost on every send, though: both status changes (pending → sending → sent) moved its entry, an
 * index write the sending pipeline paid twice per message for nothing.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE messages DROP KEY idx_status_scheduled`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE messages ADD KEY idx_status_scheduled (status, scheduled_time)`);
}
