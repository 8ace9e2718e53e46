/**
 * Counts what one process asks of MariaDB and Redis, by statement and by command, from the client side:
 * the shared servers also serve other processes (other benches, tests), so their own counters
 * (SHOW GLOBAL STATUS, INFO commandstats) would mix those in. SQL is counted per knex query (a
 * multi-statement raw query is one round trip), keyed by verb and table; Redis per command sent (a
 * pipeline's or a MULTI's commands each count; their round trips are fewer).
 */
import type { Knex } from 'knex';
import Redis from 'ioredis';

export type Counts = Record<string, number>;

const bump = (m: Counts, k: string) => {
  m[k] = (m[k] ?? 0) + 1;
};

/** "UPDATE messages", "INSERT task_counters", "SELECT messages", "BEGIN", … */
export function statementKind(sql: string): string {
  // Subqueries out first (innermost parentheses, repeatedly): a SELECT is named by its own FROM.
  let s = sql.trimStart();
  for (let before = ''; before !== s; ) {
    before = s;
    s = s.replace(/\([^()]*\)/g, '');
  }
  const verb = (/^\w+/.exec(s)?.[0] ?? '?').toUpperCase();
  const table =
    verb === 'SELECT' || verb === 'DELETE'
      ? /\bfrom\s+`?(\w+)/i.exec(s)?.[1]
      : verb === 'INSERT' || verb === 'REPLACE'
        ? /\binto\s+`?(\w+)/i.exec(s)?.[1]
        : verb === 'UPDATE'
          ? /^update\s+`?(\w+)/i.exec(s)?.[1]
          : undefined;
  return table ? `${verb} ${table}` : verb;
}

/** Starts counting; the returned function reads the counts so far. */
export function countRoundTrips(db: Knex): () => { sql: Counts; redis: Counts } {
  const sql: Counts = {};
  const redis: Counts = {};
  db.on('query', (q: { sql?: string }) => bump(sql, statementKind(String(q.sql ?? ''))));
  const proto = Redis.prototype as unknown as { sendCommand(this: unknown, cmd: { name: string }, ...rest: unknown[]): unknown };
  const send = proto.sendCommand;
  proto.sendCommand = function (this: unknown, cmd: { name: string }, ...rest: unknown[]) {
    bump(redis, String(cmd?.name ?? '?').toLowerCase());
    return send.call(this, cmd, ...rest);
  };
  return () => ({ sql: { ...sql }, redis: { ...redis } });
}

const total = (c: Counts) => Object.values(c).reduce((a, b) => a + b, 0);

/** "12.3 per 1,000 messages: UPDATE messages 2.0, …" — the biggest first. */
export function perThousand(c: Counts, messages: number, top = 12): string {
  const per = (n: number) => ((n * 1000) / messages).toFixed(1);
  const parts = Object.entries(c)
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, n]) => `${k} ${per(n)}`);
  return `${per(total(c))} per 1,000 messages (${parts.join(', ')})`;
}
