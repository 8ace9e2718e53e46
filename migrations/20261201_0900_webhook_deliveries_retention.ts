import type { Knex } from 'knex';

/**
 * The webhook delivery log is purged after RETENTION_WEBHOOK_DELIVERIES_DAYS: an index on
 * (created_at) lets the retention job delete old rows in small batches without scanning the table.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE webhook_deliveries ADD KEY idx_created (created_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE webhook_deliveries DROP KEY idx_created');
}
