import type { Knex } from 'knex';

/**
 * Callback ingestion support tables.
 * - callback_event_keys: replay guard. Unique keys on the partitioned callback_events must contain
 *   received_time, so "seen this event id before" lives in this small unpartitioned table, written in the
 *   same transaction as the event. Rows are purged by retention (created_at) after the replay window.
 * - wecom_callback_configs: per-tenant WXBizMsgCrypt settings for WeCom's official callback channel.
 */
const TABLE_OPTS = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE TABLE callback_event_keys (
  event_key CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL COMMENT 'sha256 of source + event id',
  callback_id VARCHAR(36) NOT NULL COMMENT 'callback_events.id of the first delivery',
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (event_key),
  KEY idx_created_at (created_at)
) ${TABLE_OPTS} COMMENT='callback replay guard (dedupe by event id)'`);

  await knex.raw(`CREATE TABLE wecom_callback_configs (
  tenant_id VARCHAR(36) NOT NULL,
  corp_id VARCHAR(64) NOT NULL COMMENT 'receive id checked on every decrypted message',
  token VARCHAR(64) NOT NULL,
  encoding_aes_key CHAR(43) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (tenant_id),
  CONSTRAINT fk_wecom_callback_configs_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
) ${TABLE_OPTS} COMMENT='WeCom official callback (WXBizMsgCrypt) settings per tenant'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('wecom_callback_configs');
  await knex.schema.dropTableIfExists('callback_event_keys');
}
