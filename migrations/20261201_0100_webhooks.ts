import { randomBytes, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { developmentKeyRing, parseKeyRing } from '../src/secrets/key-ring';

/**
 * Tenant webhooks (issue 12): endpoints a tenant subscribes, an outbox of events written in the same
 * transaction as the state change they report, and one delivery row per HTTP request to an endpoint
 * (its id is the Standard Webhooks `webhook-id`, stable across retries).
 *
 * A tenant's existing `webhook_url` becomes an endpoint subscribed to every event. Its signing secret is
 * generated here and sealed with the channel key ring (CHANNEL_SECRET_KEYS, as the config reads it); it
 * was never shown, so the tenant rotates it (`POST /webhooks/:id/rotate-secret`) to learn one.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE TABLE webhook_endpoints (
    id VARCHAR(36) NOT NULL,
    tenant_id VARCHAR(36) NOT NULL,
    name VARCHAR(100) NOT NULL,
    url VARCHAR(500) NOT NULL,
    event_types JSON NOT NULL COMMENT 'event types subscribed; ["*"] = all',
    active TINYINT(1) NOT NULL DEFAULT 1,
    batch_max SMALLINT UNSIGNED NOT NULL DEFAULT 1 COMMENT 'events per request for message.* events; 1 = no batching',
    secret_sealed VARCHAR(400) NOT NULL COMMENT 'whsec_ secret sealed with the channel key ring',
    previous_secret_sealed VARCHAR(400) DEFAULT NULL COMMENT 'the secret before the last rotation, valid until previous_secret_expires_at',
    previous_secret_expires_at DATETIME(3) DEFAULT NULL,
    key_id VARCHAR(32) NOT NULL COMMENT 'key ring key the secrets are sealed with',
    disabled_reason VARCHAR(200) DEFAULT NULL,
    disabled_at DATETIME(3) DEFAULT NULL,
    created_by VARCHAR(36) DEFAULT NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    KEY idx_tenant_created (tenant_id, created_at, id),
    KEY idx_tenant_active (tenant_id, active)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='tenant webhook subscriptions'`);

  await knex.raw(`CREATE TABLE webhook_outbox (
    seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    event_id VARCHAR(40) NOT NULL,
    tenant_id VARCHAR(36) NOT NULL,
    type VARCHAR(50) NOT NULL,
    payload MEDIUMTEXT NOT NULL COMMENT 'the event body {type, timestamp, data} as JSON',
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (seq)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='webhook events committed with their state change, waiting to be fanned out to endpoints'`);

  await knex.raw(`CREATE TABLE webhook_deliveries (
    id VARCHAR(40) NOT NULL COMMENT 'the webhook-id header',
    tenant_id VARCHAR(36) NOT NULL,
    endpoint_id VARCHAR(36) NOT NULL,
    event_type VARCHAR(50) NOT NULL COMMENT 'the event type, or "batch"',
    event_count INT UNSIGNED NOT NULL DEFAULT 1,
    body MEDIUMTEXT NOT NULL,
    status ENUM('pending','succeeded','failed') NOT NULL DEFAULT 'pending',
    attempts INT UNSIGNED NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    last_attempt_at DATETIME(3) DEFAULT NULL,
    last_status_code SMALLINT UNSIGNED DEFAULT NULL,
    last_latency_ms INT UNSIGNED DEFAULT NULL,
    last_response VARCHAR(500) DEFAULT NULL COMMENT 'excerpt of the last response body',
    last_error VARCHAR(500) DEFAULT NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    completed_at DATETIME(3) DEFAULT NULL,
    PRIMARY KEY (id),
    KEY idx_endpoint_created (endpoint_id, created_at, id),
    KEY idx_due (status, next_attempt_at)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='webhook requests per endpoint: the delivery log'`);

  const tenants: Array<{ id: string; webhook_url: string }> = await knex('tenants').select('id', 'webhook_url').whereNotNull('webhook_url').andWhere('webhook_url', '<>', '');
  if (tenants.length === 0) return;
  const keyRing = process.env.CHANNEL_SECRET_KEYS ? parseKeyRing(process.env.CHANNEL_SECRET_KEYS) : developmentKeyRing();
  for (const t of tenants) {
    const id = randomUUID();
    await knex('webhook_endpoints').insert({
      id,
      tenant_id: t.id,
      name: 'Tenant webhook',
      url: t.webhook_url,
      event_types: JSON.stringify(['*']),
      secret_sealed: keyRing.seal(`whsec_${randomBytes(24).toString('base64')}`, `webhook_endpoints:${id}`),
      key_id: keyRing.activeKeyId,
    });
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE webhook_deliveries');
  await knex.raw('DROP TABLE webhook_outbox');
  await knex.raw('DROP TABLE webhook_endpoints');
}
