import type { Knex } from 'knex';

/**
 * Task counters leave the task row (issue 17). Every status flush and every receipt batch added to
 * `batch_send_tasks.sent_count …` of its task, so all writers of a big task queued on one row lock, and
 * expansion chunks and operator actions, which lock that row too, queued with them. Now each writer adds
 * its deltas to one of a few shard rows of `task_counters` (same transaction as the message status
 * change, so the counts stay exact); readers sum the task's shards (src/db/task-counters.ts).
 * A shard's updated_at is the task's last progress (stall detection reads it with the task row's).
 * `total_count` and `skipped_count` stay on the task row: only expansion writes them, under the row lock
 * that also guards its cursor.
 */
const MOVED = ['sent', 'success', 'failed', 'unknown', 'cancelled', 'delivered'] as const;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE TABLE task_counters (
    task_id VARCHAR(36) NOT NULL,
    shard TINYINT UNSIGNED NOT NULL,
    sent BIGINT NOT NULL DEFAULT 0,
    success BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    unknown BIGINT NOT NULL DEFAULT 0,
    cancelled BIGINT NOT NULL DEFAULT 0,
    delivered BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3) COMMENT 'last count added: progress for stall detection',
    PRIMARY KEY (task_id, shard)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  await knex.raw(`INSERT INTO task_counters (task_id, shard, ${MOVED.join(', ')})
    SELECT id, 0, ${MOVED.map((c) => `${c}_count`).join(', ')} FROM batch_send_tasks
     WHERE ${MOVED.map((c) => `${c}_count <> 0`).join(' OR ')}`);
  await knex.raw(`ALTER TABLE batch_send_tasks ${MOVED.map((c) => `DROP COLUMN ${c}_count`).join(', ')}`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE batch_send_tasks
    ADD COLUMN sent_count INT NOT NULL DEFAULT 0 AFTER total_count,
    ADD COLUMN success_count INT NOT NULL DEFAULT 0 AFTER sent_count,
    ADD COLUMN failed_count INT NOT NULL DEFAULT 0 AFTER success_count,
    ADD COLUMN unknown_count INT NOT NULL DEFAULT 0 AFTER failed_count,
    ADD COLUMN cancelled_count INT NOT NULL DEFAULT 0,
    ADD COLUMN delivered_count INT NOT NULL DEFAULT 0`);
  await knex.raw(`UPDATE batch_send_tasks t JOIN (
      SELECT task_id, ${MOVED.map((c) => `SUM(${c}) AS ${c}`).join(', ')} FROM task_counters GROUP BY task_id
    ) c ON c.task_id = t.id
    SET ${MOVED.map((c) => `t.${c}_count = c.${c}`).join(', ')}`);
  await knex.raw('DROP TABLE task_counters');
}
