/**
 * Whether the read replica may serve reads, judged from one row of its `SHOW SLAVE STATUS` (pure; the
 * periodic check in src/db/read-replica.ts does the I/O).
 *
 * - `ok`: both replication threads run and the lag is at most the threshold.
 * - `lagging`: threads run but the replica is more than `maxLagSeconds` behind.
 * - `down`: not reachable, not a replica, a thread stopped, or the lag is unknown (MariaDB reports
 *   NULL when the SQL thread is stopped or the IO thread lost the primary): its data may be any age.
 */
export type ReplicaJudgement =
  | { state: 'ok'; lagSeconds: number }
  | { state: 'lagging'; lagSeconds: number }
  | { state: 'down'; lagSeconds: null; reason: string };

export function judgeReplica(row: Record<string, unknown> | undefined, maxLagSeconds: number): ReplicaJudgement {
  if (!row) return { state: 'down', lagSeconds: null, reason: 'not a replica (SHOW SLAVE STATUS is empty)' };
  const sql = String(row.Slave_SQL_Running ?? '');
  if (sql !== 'Yes') {
    const error = row.Last_SQL_Error ? `: ${String(row.Last_SQL_Error)}` : '';
    return { state: 'down', lagSeconds: null, reason: `replication SQL thread ${sql || 'unknown'}${error}` };
  }
  const io = String(row.Slave_IO_Running ?? '');
  if (io !== 'Yes') {
    const error = row.Last_IO_Error ? `: ${String(row.Last_IO_Error)}` : '';
    return { state: 'down', lagSeconds: null, reason: `replication IO thread ${io || 'unknown'}${error}` };
  }
  const lag = row.Seconds_Behind_Master;
  if (lag === null || lag === undefined || lag === '' || !Number.isFinite(Number(lag))) {
    return { state: 'down', lagSeconds: null, reason: 'replication lag unknown' };
  }
  // A delayed replica (MASTER_DELAY) holding an event back: that event is SQL_Delay − SQL_Remaining_Delay
  // seconds old, whatever Seconds_Behind_Master says meanwhile (it was seen at 0 with a 6 s delay pending).
  const held = heldEventAge(row);
  const lagSeconds = Math.max(Number(lag), held ?? 0);
  return lagSeconds > maxLagSeconds ? { state: 'lagging', lagSeconds } : { state: 'ok', lagSeconds };
}

/** Seconds since the primary wrote the event a delayed replica is waiting to apply; null when it waits for none. */
function heldEventAge(row: Record<string, unknown>): number | null {
  const remaining = row.SQL_Remaining_Delay;
  const delay = Number(row.SQL_Delay);
  if (remaining === null || remaining === undefined || remaining === '' || !Number.isFinite(Number(remaining)) || !Number.isFinite(delay)) return null;
  return Math.max(0, delay - Number(remaining));
}
