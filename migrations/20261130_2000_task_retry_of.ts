import type { Knex } from 'knex';

/**
 * Retry of a task's failed recipients (issue 11): the retry is a task of its own whose targets are the
 * failed messages of the task it retries (`target_type = 'retry'`, `retry_of` = that task), read from
 * the messages at expansion so a retry of 100,000 failures stores no target list.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE batch_send_tasks
    MODIFY COLUMN target_type ENUM('manual','import','group','filter','retry') NOT NULL,
    ADD COLUMN retry_of VARCHAR(36) DEFAULT NULL COMMENT 'the task whose failed recipients this task retries' AFTER target_errors,
    ADD KEY idx_retry_of (retry_of)`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DELETE FROM batch_send_tasks WHERE target_type = 'retry'`);
  await knex.raw(`ALTER TABLE batch_send_tasks DROP KEY idx_retry_of, DROP COLUMN retry_of,
    MODIFY COLUMN target_type ENUM('manual','import','group','filter') NOT NULL`);
}
