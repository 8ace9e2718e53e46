import type { Knex } from 'knex';

/**
 * message_statistics.avg_response_time is a mean over the messages that have a send_time; storing
 * how many those were lets reports combine hours into exact weighted means.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    `ALTER TABLE message_statistics ADD COLUMN response_count INT NOT NULL DEFAULT 0 COMMENT 'messages averaged in avg_response_time' AFTER avg_response_time`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE message_statistics DROP COLUMN response_count');
}
