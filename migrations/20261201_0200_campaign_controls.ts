import type { Knex } from 'knex';

/**
 * Campaign controls (issue 12): the tenant's caps as configuration (frequency cap per recipient, hourly
 * and daily caps per account, warm-up ramp, risk pause), an account's warm-up start, the `skipped` end of a
 * message withheld by the frequency cap, and per-task counts of capped messages and risk pauses.
 * Appending an ENUM value is an instant change in MariaDB, even on the partitioned messages table.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    `ALTER TABLE tenants ADD COLUMN campaign_controls LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL COMMENT 'frequency cap, account caps, warm-up, risk pause (src/domain/campaign-controls.ts)' CHECK (json_valid(campaign_controls)) AFTER config`,
  );
  await knex.raw(`ALTER TABLE wework_accounts ADD COLUMN warming_since DATETIME(3) NULL COMMENT 'warm-up ramp counts days from here' AFTER config`);
  await knex.raw(
    `ALTER TABLE messages MODIFY COLUMN status ENUM('pending','sending','sent','delivered','failed','cancelled','unknown','skipped') NOT NULL DEFAULT 'pending'`,
  );
  await knex.raw(`ALTER TABLE task_counters ADD COLUMN capped BIGINT NOT NULL DEFAULT 0 COMMENT 'messages skipped by the frequency cap' AFTER delivered`);
  await knex.raw(`ALTER TABLE task_counters ADD COLUMN risk_paused BIGINT NOT NULL DEFAULT 0 COMMENT 'risk pauses of the task''s accounts while it sent' AFTER capped`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE task_counters DROP COLUMN risk_paused`);
  await knex.raw(`ALTER TABLE task_counters DROP COLUMN capped`);
  await knex.raw(`UPDATE messages SET status = 'cancelled' WHERE status = 'skipped'`);
  await knex.raw(`ALTER TABLE messages MODIFY COLUMN status ENUM('pending','sending','sent','delivered','failed','cancelled','unknown') NOT NULL DEFAULT 'pending'`);
  await knex.raw(`ALTER TABLE wework_accounts DROP COLUMN warming_since`);
  await knex.raw(`ALTER TABLE tenants DROP COLUMN campaign_controls`);
}
