import type { Knex } from 'knex';

/**
 * idx_account_claim becomes (account_id, status, batch_id, priority DESC, scheduled_time).
 *
 * - When an account has nothing due, its sender asks when the earliest retry or scheduled single falls
 *   due. Without `scheduled_time` in the index that read looked at every pending row of the account (a
 *   paused 1M-message task's, each time a run ended); now it is one index seek per source and priority
 *   (src/db/messages.ts nextScheduledAt).
 * - A claim walks the index in its own order (priority high first, then not scheduled, then the oldest
 *   due retry) and stops at its limit, filtering inside the index: it no longer steps over the waiting
 *   retries (nor reads their rows) to find due ones, and sends follow the order of the message ids
 *   (the targets' order) instead of the reverse.
 *
 * No extra index write per message: scheduled_time only changes on a retry, which also changes status,
 * and a status change already rewrites the entry.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE messages DROP KEY idx_account_claim, ADD KEY idx_account_claim (account_id, status, batch_id, priority DESC, scheduled_time)`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE messages DROP KEY idx_account_claim, ADD KEY idx_account_claim (account_id, status, batch_id, priority)`);
}
