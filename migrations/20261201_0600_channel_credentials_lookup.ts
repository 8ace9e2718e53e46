import type { Knex } from 'knex';

/**
 * Duplicate provider tokens (issue 10): a keyed hash (HMAC, src/secrets/key-ring.ts `lookupHash`) of the
 * credential that names the hosted account sits beside the sealed secret, so the API finds an account
 * already using a token without opening every row. Unique per channel; rows written before this
 * migration have none until the re-key job fills it in.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE channel_credentials
  ADD COLUMN lookup CHAR(64) DEFAULT NULL COMMENT 'HMAC of the identifying credential (e.g. provider token) under key_id' AFTER sealed,
  ADD UNIQUE KEY uk_channel_lookup (channel, lookup)`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE channel_credentials DROP INDEX uk_channel_lookup, DROP COLUMN lookup`);
}
