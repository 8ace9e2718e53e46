import type { Knex } from 'knex';
import { waitFor } from './wait';

/**
 * Barrier for tests that hold a row lock: resolves once a transaction of `database` is seen in LOCK WAIT
 * (optionally only one whose statement contains every `queryContains` string), i.e. the code under test
 * reached the locked row and is stuck there.
 *
 * Polled every 250 ms on purpose: information_schema reads every 50 ms were seen to starve the very
 * statement the test waits for (CI runs of the shutdown and tenant-lanes tests).
 */
export async function waitForLockWait(
  db: Knex,
  what: string,
  filter: { database: string; queryContains?: string[] },
): Promise<void> {
  const likes = (filter.queryContains ?? []).map((part) => `%${part}%`);
  const sql = `SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX t
     JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
     WHERE t.trx_state = 'LOCK WAIT' AND p.DB = ?${likes.map(() => ' AND t.trx_query LIKE ?').join('')}`;
  await waitFor(
    async () => {
      const [rows] = (await db.raw(sql, [filter.database, ...likes])) as [Array<{ n: number }>];
      return Number(rows[0].n) > 0;
    },
    what,
    { intervalMs: 250, timeoutMs: 30_000 },
  );
}
