import type { Knex } from 'knex';

/**
 * The index budget of `messages` (issue 17). Every secondary index is paid on each insert, and an index
 * holding `status` again on each status change (pending → sending → sent → delivered), so each one must
 * answer a query the product runs; insert costs were measured with `npm run bench:scale` (case
 * `indexes`; docs/database.md):
 *
 *   idx_account_claim (account_id, status, batch_id, priority)   kept: the sender's claims, orphans, singles,
 *                                                                 next retry time, the sweeper
 *   idx_batch_status_time (batch_id, status, created_at)           was (batch_id, status): a task's recipient
 *                                                                 list filtered by status pages by keyset
 *                                                                 (created_at, id) without sorting; cancel
 *                                                                 and settle find a task's pending messages
 *   idx_tenant_time (tenant_id, created_at)                       was (tenant_id, created_at, status): the
 *                                                                 message list pages by (created_at, id); with
 *                                                                 status in the middle a big task's rows (one
 *                                                                 created_at) had to be sorted, and every status
 *                                                                 change moved the entry
 *   idx_account_time (account_id, created_at)                     was (account_id, send_time), which no query
 *                                                                 used and every send moved: the list filtered
 *                                                                 by account pages by keyset
 *   idx_conversation_time (conversation_id, created_at)           kept: the list filtered by conversation
 *   idx_wework_msg_id (wework_msg_id)                             kept: delivery receipts find their message
 *   idx_template_id (template_id)                                 dropped: no query reads messages by template
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE messages
    DROP KEY idx_template_id,
    DROP KEY idx_tenant_time_status,
    DROP KEY idx_account_send_time,
    DROP KEY idx_batch_status,
    ADD KEY idx_tenant_time (tenant_id, created_at),
    ADD KEY idx_account_time (account_id, created_at),
    ADD KEY idx_batch_status_time (batch_id, status, created_at)`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE messages
    DROP KEY idx_tenant_time,
    DROP KEY idx_account_time,
    DROP KEY idx_batch_status_time,
    ADD KEY idx_template_id (template_id),
    ADD KEY idx_tenant_time_status (tenant_id, created_at, status),
    ADD KEY idx_account_send_time (account_id, send_time),
    ADD KEY idx_batch_status (batch_id, status)`);
}
