import type { Knex } from 'knex';
import type { HourBucket } from '../domain/report-series';

/**
 * message_statistics: one row per (tenant, account, UTC date, UTC hour) of message creation.
 *   total_count   messages created in that hour, except cancelled ones (never attempted)
 *   success_count sent + delivered
 *   failed_count  failed
 *   avg_response_time  mean seconds from created_at to send_time (the gateway accepting the message)
 *                      over the messages that have a send_time; NULL when none has
 *   response_count     how many messages that mean is over (so hours combine exactly)
 * Pending/sending messages count in total only, so total - success - failed is what is still in flight.
 */

/** Start of the UTC hour containing `d`. */
export function hourStart(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 3_600_000) * 3_600_000);
}

/**
 * Recomputes the statistics of every hour in [from, to) from messages and writes them with
 * INSERT … ON DUPLICATE KEY UPDATE, replacing (not adding to) stored values, so re-running any window
 * gives the same numbers. Rows of the window whose messages are gone are removed.
 *
 * The aggregate is a plain (consistent, lock-free) read; only its result, a few rows per account and
 * hour, is written in a short transaction. INSERT … SELECT would share-lock every message of the window
 * for the whole scan (a million-message campaign hour: seconds during which no status of that hour
 * could change, issue 17).
 */
export async function rollupMessageStatistics(db: Knex, from: Date, to: Date): Promise<{ groups: number; removed: number }> {
  const start = hourStart(from);
  const end = hourStart(new Date(to.getTime() + 3_600_000 - 1));
  const [rows] = (await db.raw(
    `SELECT tenant_id, account_id, DATE_FORMAT(created_at, '%Y-%m-%d') AS stat_date, HOUR(created_at) AS stat_hour,
            COUNT(*) AS total_count,
            SUM(status IN ('sent', 'delivered')) AS success_count,
            SUM(status = 'failed') AS failed_count,
            AVG(CASE WHEN send_time IS NOT NULL THEN TIMESTAMPDIFF(MICROSECOND, created_at, send_time) / 1000000 END) AS avg_response_time,
            COUNT(send_time) AS response_count
       FROM messages
      WHERE created_at >= ? AND created_at < ? AND status NOT IN ('cancelled', 'skipped')
      GROUP BY tenant_id, account_id, DATE(created_at), HOUR(created_at)`,
    [start, end],
  )) as [Array<{ tenant_id: string; account_id: string; stat_date: string; stat_hour: number; total_count: number; success_count: number; failed_count: number; avg_response_time: number | null; response_count: number }>];
  const keyOf = (r: { tenant_id: string; account_id: string; stat_date: string; stat_hour: number }) => `${r.tenant_id}|${r.account_id}|${r.stat_date}|${Number(r.stat_hour)}`;
  const fresh = new Set(rows.map(keyOf));
  return db.transaction(async (trx) => {
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      await trx.raw(
        `INSERT INTO message_statistics
           (tenant_id, account_id, stat_date, stat_hour, total_count, success_count, failed_count, avg_response_time, response_count)
         VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}
         ON DUPLICATE KEY UPDATE
           total_count = VALUES(total_count),
           success_count = VALUES(success_count),
           failed_count = VALUES(failed_count),
           avg_response_time = VALUES(avg_response_time),
           response_count = VALUES(response_count)`,
        chunk.flatMap((r) => [r.tenant_id, r.account_id, r.stat_date, r.stat_hour, r.total_count, Number(r.success_count), Number(r.failed_count), r.avg_response_time, r.response_count]),
      );
    }
    const stored: Array<{ id: number; tenant_id: string; account_id: string; stat_date: string; stat_hour: number }> = await trx('message_statistics')
      .select('id', 'tenant_id', 'account_id', trx.raw("DATE_FORMAT(stat_date, '%Y-%m-%d') AS stat_date"), 'stat_hour')
      .whereBetween('stat_date', [start.toISOString().slice(0, 10), end.toISOString().slice(0, 10)])
      .whereRaw('TIMESTAMP(stat_date, MAKETIME(stat_hour, 0, 0)) >= ?', [start])
      .whereRaw('TIMESTAMP(stat_date, MAKETIME(stat_hour, 0, 0)) < ?', [end]);
    const gone = stored.filter((r) => !fresh.has(keyOf(r))).map((r) => r.id);
    for (let i = 0; i < gone.length; i += 1000) await trx('message_statistics').whereIn('id', gone.slice(i, i + 1000)).delete();
    return { groups: rows.length, removed: gone.length };
  });
}

export interface StatsFilter {
  tenantId: string;
  accountId?: string;
  from: Date;
  to: Date;
}

function scoped(db: Knex, f: StatsFilter): Knex.QueryBuilder {
  const start = hourStart(f.from);
  const q = db('message_statistics')
    .where('tenant_id', f.tenantId)
    .whereBetween('stat_date', [start.toISOString().slice(0, 10), f.to.toISOString().slice(0, 10)])
    .whereRaw('TIMESTAMP(stat_date, MAKETIME(stat_hour, 0, 0)) >= ?', [start])
    .whereRaw('TIMESTAMP(stat_date, MAKETIME(stat_hour, 0, 0)) < ?', [f.to]);
  if (f.accountId) q.where('account_id', f.accountId);
  return q;
}

/** The window's hours (summed over accounts unless one is given), for src/domain/report-series. */
export async function statisticsHours(db: Knex, f: StatsFilter): Promise<HourBucket[]> {
  const rows = await scoped(db, f)
    .select(
      db.raw("DATE_FORMAT(TIMESTAMP(stat_date, MAKETIME(stat_hour, 0, 0)), '%Y-%m-%dT%H:00:00Z') AS hour"),
      db.raw('SUM(total_count) AS total'),
      db.raw('SUM(success_count) AS success'),
      db.raw('SUM(failed_count) AS failed'),
      // Exact combined mean of the accounts' hours: weighted by how many messages each averaged.
      db.raw('SUM(avg_response_time * response_count) / NULLIF(SUM(CASE WHEN avg_response_time IS NOT NULL THEN response_count END), 0) AS avg_rt'),
      db.raw('SUM(CASE WHEN avg_response_time IS NOT NULL THEN response_count ELSE 0 END) AS responses'),
    )
    .groupBy('stat_date', 'stat_hour')
    .orderBy(['stat_date', 'stat_hour']);
  return rows.map((r: Record<string, unknown>) => ({
    hour: new Date(String(r.hour)),
    total: Number(r.total),
    success: Number(r.success),
    failed: Number(r.failed),
    avgResponse: r.avg_rt === null ? null : Number(r.avg_rt),
    responseCount: Number(r.responses),
  }));
}

const rate = (success: number, failed: number) => (success + failed > 0 ? Math.round((success / (success + failed)) * 10_000) / 10_000 : null);

/**
 * Per-account totals of the window (for the per-account breakdown), one keyset page by account id:
 * `after` is the last account id of the previous page; `limit` + 1 rows are read to know if more follow.
 */
export async function statisticsByAccount(
  db: Knex,
  f: StatsFilter & { after?: string; limit?: number },
): Promise<Array<{ account_id: string; total: number; success: number; failed: number; success_rate: number | null }>> {
  const q = scoped(db, f)
    .select('account_id', db.raw('SUM(total_count) AS total'), db.raw('SUM(success_count) AS success'), db.raw('SUM(failed_count) AS failed'))
    .groupBy('account_id')
    .orderBy('account_id');
  if (f.after !== undefined) q.andWhere('account_id', '>', f.after);
  if (f.limit !== undefined) q.limit(f.limit);
  const rows = await q;
  return rows.map((r: Record<string, unknown>) => {
    const success = Number(r.success);
    const failed = Number(r.failed);
    return { account_id: String(r.account_id), total: Number(r.total), success, failed, success_rate: rate(success, failed) };
  });
}
