import type { Knex } from 'knex';
import type { Config } from '../config';
import { judgeReplica } from '../domain/replica-state';
import type { Logger } from '../logger';
import { replicaLagSeconds, replicaServingReads } from '../metrics/prometheus';
import { createKnex } from './knex';
import { isStoreUnavailable } from './unavailable';

/**
 * Read routing to a MariaDB replica (DB_READ_HOST). Only reads that may be a little behind go here:
 * lists, reports, exports (the routes call `ctx.readDb()`). Everything that must see its own writes
 * stays on the primary (`ctx.db`): a GET of one row (clients read what they just created), auth and
 * sessions, permission checks, task progress, and every worker and cron read.
 *
 * One cheap check per process every DB_READ_CHECK_MS (`SHOW SLAVE STATUS`), never per query: while
 * the replica is down, not replicating or lagging past DB_READ_MAX_LAG_SECONDS, `db()` hands out the
 * primary. A connection error on a replica query marks it down at once, before the next check.
 */
export type ReplicaState = 'unconfigured' | 'starting' | 'ok' | 'lagging' | 'down';

export interface ReplicaSnapshot {
  state: ReplicaState;
  /** Seconds behind the primary at the last check; null when unknown. */
  lagSeconds: number | null;
  maxLagSeconds: number | null;
  /** Why it is down. */
  reason?: string;
  checkedAt: Date | null;
}

export interface ReadReplica {
  /** The pool for lag-tolerant reads: the replica while it is `ok`, the primary otherwise. */
  db(): Knex;
  snapshot(): ReplicaSnapshot;
  /** Checks now (the periodic check calls it too) and returns the new state. */
  check(): Promise<ReplicaSnapshot>;
  close(): Promise<void>;
}

export function createReadReplica(primary: Knex, cfg: Config['dbRead'], log: Logger): ReadReplica {
  if (!cfg) {
    const none: ReplicaSnapshot = { state: 'unconfigured', lagSeconds: null, maxLagSeconds: null, checkedAt: null };
    return { db: () => primary, snapshot: () => none, check: async () => none, close: async () => undefined };
  }
  // Fail fast: a query that cannot get a replica connection soon is better refused than held.
  const failFastMs = Math.max(500, Math.min(cfg.checkMs, 2000));
  // knex prints pool errors with console.log; while the replica is down they are expected, and the
  // state change is logged once below.
  const quiet = (message: unknown) => log.debug({ message: String(message) }, 'read replica pool');
  const replica = createKnex(cfg, { poolMax: cfg.poolMax, failFastMs, log: { warn: quiet, error: quiet, debug: quiet, deprecate: quiet } });
  let current: ReplicaSnapshot = { state: 'starting', lagSeconds: null, maxLagSeconds: cfg.maxLagSeconds, checkedAt: null };
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let inFlight: Promise<ReplicaSnapshot> | undefined;

  const publish = (next: ReplicaSnapshot) => {
    if (next.state !== current.state) {
      const fields = { from: current.state, to: next.state, lagSeconds: next.lagSeconds, reason: next.reason };
      if (next.state === 'ok') log.info(fields, 'read replica serving reads');
      else if (current.state !== 'starting' || next.state !== 'down') log.warn(fields, 'read replica not serving reads: reads go to the primary');
      else log.warn(fields, 'read replica unavailable at start: reads go to the primary');
    }
    current = next;
    replicaServingReads.set(next.state === 'ok' ? 1 : 0);
    if (next.lagSeconds !== null) replicaLagSeconds.set(next.lagSeconds);
    else replicaLagSeconds.set(Number.NaN);
  };

  const markDown = (reason: string) => publish({ ...current, state: 'down', lagSeconds: null, reason, checkedAt: new Date() });

  replica.on('query-error', (err: unknown) => {
    if (!closed && current.state !== 'down' && isStoreUnavailable(err)) markDown(`query failed: ${(err as Error).message}`);
  });

  const runCheck = async (): Promise<ReplicaSnapshot> => {
    try {
      const [rows] = (await replica.raw('SHOW SLAVE STATUS').timeout(failFastMs, { cancel: false })) as [Array<Record<string, unknown>>];
      const verdict = judgeReplica(rows[0], cfg.maxLagSeconds);
      if (!closed) publish({ ...verdict, maxLagSeconds: cfg.maxLagSeconds, checkedAt: new Date() });
    } catch (err) {
      if (!closed) markDown((err as Error).message);
    }
    return current;
  };

  const check = () => (inFlight ??= runCheck().finally(() => (inFlight = undefined)));

  const loop = () => {
    if (closed) return;
    void check().finally(() => {
      if (!closed) timer = setTimeout(loop, cfg.checkMs).unref();
    });
  };
  loop();

  return {
    db: () => (current.state === 'ok' ? replica : primary),
    snapshot: () => current,
    check,
    async close() {
      closed = true;
      clearTimeout(timer);
      await inFlight?.catch(() => undefined);
      await replica.destroy();
    },
  };
}
