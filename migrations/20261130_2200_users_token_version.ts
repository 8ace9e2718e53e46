import type { Knex } from 'knex';

/**
 * Access tokens end with a password reset (issue 8, finding 8): each carries the operator's
 * token_version at signing, checked on every request; raising it ends every older token at once.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    `ALTER TABLE users ADD COLUMN token_version INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'access tokens signed at an older version are refused' AFTER password_hash`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE users DROP COLUMN token_version`);
}
