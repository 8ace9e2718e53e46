import type { Knex } from 'knex';

/**
 * Channels (issue 10): each account names the channel that serves it, and channel secrets (provider
 * token and endpoint; later the official app secret) live sealed (AES-256-GCM, src/secrets) in their
 * own table, one row per account, with the key id so rotation can find rows to re-seal and a masked
 * hint the API may show. Messages whose send is in doubt end `unknown`, counted on their task.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE wework_accounts ADD COLUMN channel VARCHAR(20) NOT NULL DEFAULT 'simulator' AFTER guid`);
  await knex.raw(`CREATE TABLE channel_credentials (
  account_id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  channel VARCHAR(20) NOT NULL,
  key_id VARCHAR(32) NOT NULL COMMENT 'key ring id the secret is sealed with',
  sealed TEXT NOT NULL COMMENT 'AES-256-GCM envelope, bound to the account id',
  hint JSON DEFAULT NULL COMMENT 'masked, displayable',
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (account_id),
  KEY idx_tenant (tenant_id),
  KEY idx_key_id (key_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='sealed channel secrets per account'`);
  await knex.raw(`ALTER TABLE messages MODIFY COLUMN status ENUM('pending','sending','sent','delivered','failed','cancelled','unknown') NOT NULL DEFAULT 'pending'`);
  await knex.raw(`ALTER TABLE batch_send_tasks ADD COLUMN unknown_count INT NOT NULL DEFAULT 0 AFTER failed_count`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE batch_send_tasks DROP COLUMN unknown_count`);
  await knex.raw(`UPDATE messages SET status = 'failed' WHERE status = 'unknown'`);
  await knex.raw(`ALTER TABLE messages MODIFY COLUMN status ENUM('pending','sending','sent','delivered','failed','cancelled') NOT NULL DEFAULT 'pending'`);
  await knex.raw(`DROP TABLE IF EXISTS channel_credentials`);
  await knex.raw(`ALTER TABLE wework_accounts DROP COLUMN channel`);
}
