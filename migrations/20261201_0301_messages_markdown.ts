import type { Knex } from 'knex';

/**
 * `markdown` content (issue 13: the official channel's app messages). The value goes at the end of the
 * ENUM, which MariaDB changes in the table's metadata only (ALGORITHM=INSTANT), however large the
 * partitioned messages table is.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE messages MODIFY message_type ENUM('text','image','file','link','miniprogram','at','markdown') NOT NULL, ALGORITHM=INSTANT`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE messages MODIFY message_type ENUM('text','image','file','link','miniprogram','at') NOT NULL`);
}
