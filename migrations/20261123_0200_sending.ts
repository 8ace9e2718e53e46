import type { Knex } from 'knex';

/**
 * What the sending pipeline needs beyond the foundation schema:
 * - batch_send_tasks: several sending accounts, priority, scheduled start, the expansion cursor (source
 *   targets already turned into messages, committed with the rows it covers), the consecutive-error
 *   counter of the error threshold, and counters for cancelled / delivered / skipped (duplicate or bad)
 *   targets plus a bounded report of bad import rows.
 * - messages: the claim index of the per-account sender (account, status, task, priority).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE batch_send_tasks
    ADD COLUMN account_ids JSON DEFAULT NULL AFTER account_id,
    ADD COLUMN priority INT NOT NULL DEFAULT 5 AFTER send_strategy,
    ADD COLUMN scheduled_time DATETIME(3) DEFAULT NULL AFTER priority,
    ADD COLUMN expansion_cursor INT NOT NULL DEFAULT 0,
    ADD COLUMN expansion_done TINYINT(1) NOT NULL DEFAULT 0,
    ADD COLUMN consecutive_errors INT NOT NULL DEFAULT 0,
    ADD COLUMN cancelled_count INT NOT NULL DEFAULT 0,
    ADD COLUMN delivered_count INT NOT NULL DEFAULT 0,
    ADD COLUMN skipped_count INT NOT NULL DEFAULT 0,
    ADD COLUMN target_errors JSON DEFAULT NULL,
    ADD KEY idx_status_scheduled (status, scheduled_time)`);
  await knex.raw(`ALTER TABLE messages ADD KEY idx_account_claim (account_id, status, batch_id, priority)`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE messages DROP KEY idx_account_claim`);
  await knex.raw(`ALTER TABLE batch_send_tasks
    DROP KEY idx_status_scheduled,
    DROP COLUMN account_ids, DROP COLUMN priority, DROP COLUMN scheduled_time, DROP COLUMN expansion_cursor,
    DROP COLUMN expansion_done, DROP COLUMN consecutive_errors, DROP COLUMN cancelled_count,
    DROP COLUMN delivered_count, DROP COLUMN skipped_count, DROP COLUMN target_errors`);
}
