import type { Knex } from 'knex';

/**
 * Delivery receipts that arrive before their message is recorded as sent (issue 8): the gateway's
 * callback can overtake the sender's batched status write, or the write waits out a MySQL outage. They
 * are kept here, one row per (account, gateway message id), and applied when the message's `sent` status
 * lands (src/sending/receipts.ts). Rows for ids that never show up are purged after a week.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE TABLE pending_receipts (
    account_id VARCHAR(36) NOT NULL,
    wework_msg_id VARCHAR(100) NOT NULL COMMENT 'the gateway message id the receipt names',
    status ENUM('delivered','failed') NOT NULL,
    error_code VARCHAR(50) DEFAULT NULL,
    error_message TEXT DEFAULT NULL,
    receipt_time DATETIME(3) NOT NULL COMMENT 'when the platform says it happened',
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (account_id, wework_msg_id),
    KEY idx_wework_msg_id (wework_msg_id),
    KEY idx_created_at (created_at)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='receipts waiting for their message to be recorded as sent'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE pending_receipts');
}
