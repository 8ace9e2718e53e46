/**
 * The outage scenario of `npm run chaos` (and, shorter, test/outage/chaos.test.ts): the api, simulator,
 * cron and two worker roles as separate processes against a private MariaDB and a private Redis (AOF),
 * one task to `targets` conversations, and during it: SIGKILL of each worker (a new one started in its
 * place), kill -9 of Redis and of MariaDB, each restarted. Nothing restarts a process that exits.
 *
 * The report compares the simulator's ledger (its own record of deliveries, by idempotency key) with the
 * targets and the database: lost, duplicated, counters against message rows, delivered counter against
 * the ledger. Recovery times are measured at the simulator: after a fault, the longest any account went
 * without a send request reaching the gateway (orphans re-sent under their key count: the account is
 * sending again).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { signAccessToken } from '../../src/auth/access-tokens';
import { hashPassword } from '../../src/auth/passwords';
import { loadConfig, type Config } from '../../src/config';
import { newId } from '../../src/db/ids';
import { createKnex, ensureDatabase } from '../../src/db/knex';
import { prepareDatabase } from '../../src/db/migrator';
import { assignRole } from '../../src/db/roles';
import { taskCounts, type TaskCounts } from '../../src/db/task-counters';
import { insertTenant } from '../../src/db/tenants';
import { insertUser } from '../../src/db/users';
import { freePort, PrivateMariaDb, PrivateRedis } from './private-services';
import { spawnRole, waitForLog, type RoleProcess } from './roles';

export interface ChaosOptions {
  targets: number;
  accounts: number;
  /** Paced rate per account: the run must last long enough for the faults to land inside it. */
  ratePerMinute: number;
  /** How long MariaDB and Redis stay down. */
  outageMs: number;
  /** Messages `sent` this long without a receipt are asked about at the gateway. */
  reconcileAfterSeconds: number;
  /** Give up waiting for completion after this long. */
  timeoutMs: number;
  log?: (line: string) => void;
  /** Keep the logs and data directories (printed) instead of removing them. */
  keep?: boolean;
}

export interface FaultRecord {
  fault: string;
  /** Progress (delivered keys / targets) when it was injected. */
  atProgress: number;
  /** Down time (service faults): kill to restart. */
  downMs?: number;
  /** From the kill (worker) or the restart (service) until every account delivered again. */
  recoveryMs: number | null;
}

export interface ChaosReport {
  targets: number;
  wallMs: number;
  taskStatus: string;
  ledger: { unique_keys: number; total_deliveries: number; duplicate_deliveries: number; duplicate_requests: number };
  lost: number;
  duplicated: number;
  rows: Record<string, number>;
  counters: TaskCounts;
  countersMatchRows: boolean;
  deliveredCounterVsLedger: { delivered_count: number; ledger_deliveries: number };
  undelivered: number;
  faults: FaultRecord[];
  /** Processes that ended without being killed on purpose. */
  exited: Array<{ name: string; code: number | null; signal: string | null }>;
  unhandledRejections: number;
  /** The first logged unhandled rejections (process: message), to find their owner. */
  unhandledSamples: string[];
  logDir: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function json<T>(method: 'GET' | 'POST' | 'PATCH', url: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const res = await request(url, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: (text ? JSON.parse(text) : undefined) as T };
}

/** Polls `read` until `ok` (errors count as not yet); throws naming `what` after `timeoutMs`. */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs: number, everyMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await read();
      if (ok(v)) return v;
      last = v;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > end) throw new Error(`chaos: timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 500)}`);
    await sleep(everyMs);
  }
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const log = opts.log ?? (() => undefined);
  const root = mkdtempSync(path.join(tmpdir(), 'wwp-chaos-'));
  const logDir = path.join(root, 'logs');
  mkdirSync(logDir);
  const started = Date.now();
  const procs: RoleProcess[] = [];
  let mdb: PrivateMariaDb | undefined;
  let redis: PrivateRedis | undefined;
  let knex: ReturnType<typeof createKnex> | undefined;
  try {
    [mdb, redis] = await Promise.all([PrivateMariaDb.create({ parentDir: root }), PrivateRedis.create({ parentDir: root })]);
    const [apiPort, simPort] = [await freePort(), await freePort()];
    const env: Record<string, string> = {
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      ...mdb.env('wwp_chaos'),
      DB_POOL_MAX: '20',
      REDIS_URL: redis.url,
      REDIS_PREFIX: '{chaos}',
      PORT: String(apiPort),
      HOST: '127.0.0.1',
      PUBLIC_URL: `http://127.0.0.1:${apiPort}`,
      SIMULATOR_PORT: String(simPort),
      SIMULATOR_AUTO_LOGIN: 'false',
      SIMULATOR_SEND_RATE_PER_MINUTE: '0',
      CALLBACK_URL: `http://127.0.0.1:${apiPort}/callbacks/gateway`,
      RECONCILE_AFTER_SECONDS: String(opts.reconcileAfterSeconds),
      PASSWORD_HASH_MEMORY_KIB: '1024',
      PASSWORD_HASH_TIME_COST: '1',
      FILES_DIR: path.join(root, 'files'),
      INFLUX_URL: '',
    };
    const config: Config = loadConfig({ ...process.env, ...env } as NodeJS.ProcessEnv);
    await ensureDatabase(config.db);
    knex = createKnex(config.db, { poolMax: 4 });
    await prepareDatabase(knex, config.partitions.monthsAhead);
    const db = knex;

    const start = (name: string, role: string) => {
      const p = spawnRole(name, role, env, logDir);
      procs.push(p);
      return p;
    };
    log(`starting api, simulator, cron, worker-1, worker-2 (logs in ${logDir})`);
    const sim = start('simulator', 'simulator');
    const api = start('api', 'api');
    const cron = start('cron', 'cron');
    let workers = [start('worker-1', 'worker'), start('worker-2', 'worker')];
    await Promise.all([waitForLog(sim, 'gateway simulator listening', 180_000), waitForLog(api, 'API listening', 180_000), waitForLog(cron, 'service started', 180_000), ...workers.map((w) => waitForLog(w, 'workers started', 180_000))]);

    // Accounts: simulator instances logged in through the gateway API and the control API.
    const simUrl = `http://127.0.0.1:${simPort}`;
    const gw = { 'x-api-key': config.gateway.apiKey };
    const { id: tenantId, roleIds } = await db.transaction((trx) => insertTenant(trx, { tenantCode: 'chaos', tenantName: 'Chaos', maxDailyMessages: 10_000_000, maxAccounts: 1000 }));
    const adminId = await insertUser(db, { tenantId, username: 'chaos-admin', email: 'chaos@example.test', passwordHash: await hashPassword(config.auth, 'chaos admin pass') });
    await assignRole(db, adminId, roleIds.admin, adminId);
    const token = signAccessToken(config.auth, { sub: adminId, tid: tenantId, kind: 'user' });
    const accounts: Array<{ id: string; guid: string }> = [];
    for (let i = 0; i < opts.accounts; i++) {
      const { body } = await json<{ guid: string }>('POST', `${simUrl}/instances`, { label: `chaos-${i}` }, gw);
      await json('POST', `${simUrl}/instances/${body.guid}/login`, {}, gw);
      await json('POST', `${simUrl}/_control/instances/${body.guid}/scan`, {});
      await json('POST', `${simUrl}/_control/instances/${body.guid}/confirm`, {});
      const id = newId();
      await db('wework_accounts').insert({ id, tenant_id: tenantId, account_name: `chaos-${i}`, guid: body.guid, status: 'online' });
      accounts.push({ id, guid: body.guid });
    }
    // The audience: `targets` conversations spread over the accounts (a filter task sends to all).
    for (let i = 0; i < opts.targets; i += 1000) {
      const rows = [];
      for (let j = i; j < Math.min(opts.targets, i + 1000); j++) {
        const a = accounts[j % accounts.length];
        rows.push({ id: newId(), tenant_id: tenantId, account_id: a.id, conversation_id: `chaos-conv-${j}`, conversation_type: 'private' });
      }
      await db('conversations').insert(rows);
    }
    const apiUrl = `http://127.0.0.1:${apiPort}/api/v1`;
    const auth = { authorization: `Bearer ${token}` };
    const created = await json<{ id: string }>(
      'POST',
      `${apiUrl}/tasks`,
      { name: 'chaos', account_ids: accounts.map((a) => a.id), content: { type: 'text', text: 'chaos' }, target_type: 'filter', filter: { conversation_type: 'private' }, send_strategy: { rate_per_minute: opts.ratePerMinute } },
      auth,
    );
    if (created.status !== 201) throw new Error(`chaos: task not created: ${created.status} ${JSON.stringify(created.body)}`);
    const taskId = created.body.id;
    const begun = await json('POST', `${apiUrl}/tasks/${taskId}/start`, {}, auth);
    if (begun.status !== 200) throw new Error(`chaos: task not started: ${begun.status} ${JSON.stringify(begun.body)}`);
    log(`task ${taskId}: ${opts.targets} targets over ${opts.accounts} accounts at ${opts.ratePerMinute}/min each`);

    // Per-account deliveries at the simulator, sampled continuously: the recovery clock.
    const lastDelivery = new Map<string, { n: number; at: number }>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await Promise.all(
          accounts.map(async (a) => {
            // Any send request counts: a sender taking an account over first re-sends its orphans (same key,
            // recognised by the gateway), which is the account sending again.
            const r = await json<{ requests: number }>('GET', `${simUrl}/_control/instances/${a.guid}`).catch(() => null);
            const prev = lastDelivery.get(a.guid);
            if (r && (!prev || r.body.requests > prev.n)) lastDelivery.set(a.guid, { n: r.body.requests, at: Date.now() });
          }),
        );
        await sleep(100);
      }
    })();
    const ledger = async () => (await json<ChaosReport['ledger']>('GET', `${simUrl}/_control/ledger`)).body;
    const progress = async () => (await ledger()).unique_keys / opts.targets;
    const atProgress = (p: number, what: string) => until(progress, (v) => v >= p, `${what} (progress ${p})`, opts.timeoutMs, 100);
    /** Every account has delivered after `t` (or has nothing left to send): the longest wait. */
    const recovery = async (t: number): Promise<number | null> => {
      const ok = await until(
        async () => {
          if ((await progress()) >= 1) return true;
          return accounts.every((a) => (lastDelivery.get(a.guid)?.at ?? 0) > t);
        },
        (v) => v,
        'every account delivering again',
        120_000,
        50,
      ).catch(() => false);
      if (!ok) return null;
      return Math.max(0, ...accounts.map((a) => (lastDelivery.get(a.guid)?.at ?? t) - t));
    };

    const faults: FaultRecord[] = [];
    const killWorker = async (at: number, index: number) => {
      const p = await atProgress(at, `SIGKILL of ${workers[index].name}`).then(progress);
      const victim = workers[index];
      const t = Date.now();
      await victim.kill9();
      // The survivors take the killed worker's accounts over; its replacement starts once they have
      // (a cold start competes for the CPU and is no part of the recovery).
      const rec = await recovery(t);
      const fresh = start(`worker-${procs.filter((x) => x.role === 'worker').length + 1}`, 'worker');
      workers = workers.map((w, i) => (i === index ? fresh : w));
      // The next fault may kill the other worker: this one must be there to take its accounts over.
      await waitForLog(fresh, 'workers started', 180_000);
      faults.push({ fault: `SIGKILL ${victim.name} (started ${fresh.name})`, atProgress: p, recoveryMs: rec });
      log(`SIGKILL ${victim.name} at ${(p * 100).toFixed(0)}%: its accounts sent again after ${rec} ms`);
    };
    const killService = async (at: number, name: string, server: PrivateMariaDb | PrivateRedis) => {
      const p = await atProgress(at, `kill -9 of ${name}`).then(progress);
      const t0 = Date.now();
      await server.kill9();
      await sleep(opts.outageMs);
      await server.start();
      const t1 = Date.now();
      const rec = await recovery(t1);
      faults.push({ fault: `kill -9 ${name}`, atProgress: p, downMs: t1 - t0, recoveryMs: rec });
      log(`kill -9 ${name} at ${(p * 100).toFixed(0)}%, down ${t1 - t0} ms: every account sent again ${rec} ms after the restart`);
    };
    await killWorker(0.1, 0);
    await killWorker(0.25, 1);
    await killService(0.4, 'Redis', redis);
    await killService(0.6, 'MariaDB', mdb);

    // The end: the task completed and every receipt applied (callbacks lost in the outages come back
    // through the reconciliation job).
    const task = await until(() => db('batch_send_tasks').where({ id: taskId }).first(), (t) => t && t.status !== 'running' && t.status !== 'paused' ? true : false, 'the task to end', opts.timeoutMs, 500);
    log(`task ${task.status}; waiting for every receipt`);
    const rowsOf = async () => {
      const list: Array<{ status: string; n: number | string }> = await db('messages').where({ batch_id: taskId }).select('status').count({ n: '*' }).groupBy('status');
      return Object.fromEntries(list.map((r) => [r.status, Number(r.n)])) as Record<string, number>;
    };
    const final = await until(rowsOf, (r) => !r.sent && !r.sending && !r.pending, 'no message left sent, sending or pending', opts.reconcileAfterSeconds * 1000 + 120_000, 1000).catch(async () => rowsOf());
    sampling = false;
    await sampler;

    const l = await ledger();
    const counters = await taskCounts(db, taskId);
    const done = (final.sent ?? 0) + (final.delivered ?? 0) + (final.failed ?? 0) + (final.unknown ?? 0);
    const countersMatchRows =
      counters.sent === done &&
      counters.delivered === (final.delivered ?? 0) &&
      counters.failed === (final.failed ?? 0) &&
      counters.unknown === (final.unknown ?? 0) &&
      counters.success === (final.sent ?? 0) + (final.delivered ?? 0) &&
      counters.cancelled === (final.cancelled ?? 0);
    const endTask = await db('batch_send_tasks').where({ id: taskId }).first();
    const exited = procs.filter((p) => p.exit && !p.killed).map((p) => ({ name: p.name, code: p.exit!.code, signal: p.exit!.signal }));
    return {
      targets: opts.targets,
      wallMs: Date.now() - started,
      taskStatus: endTask.status,
      ledger: l,
      lost: opts.targets - l.unique_keys,
      duplicated: l.duplicate_deliveries,
      rows: final,
      counters,
      countersMatchRows,
      deliveredCounterVsLedger: { delivered_count: counters.delivered, ledger_deliveries: l.total_deliveries },
      undelivered: opts.targets - (final.delivered ?? 0),
      faults,
      exited,
      unhandledRejections: procs.reduce((n, p) => n + p.unhandledRejections(), 0),
      unhandledSamples: procs.flatMap((p) => p.unhandledRejectionLines().slice(0, 3).map((l) => `${p.name}: ${l.slice(0, 1500)}`)),
      logDir,
    };
  } finally {
    await Promise.all(procs.map((p) => p.stop(10_000).catch(() => undefined)));
    await knex?.destroy().catch(() => undefined);
    await mdb?.kill9();
    await redis?.kill9();
    if (!opts.keep) rmSync(root, { recursive: true, force: true });
  }
}

/** Lines for a person: figures first, then the verdict. */
export function formatReport(r: ChaosReport): string[] {
  const ok = r.lost === 0 && r.duplicated === 0 && r.unhandledRejections === 0 && r.countersMatchRows && r.taskStatus === 'completed' && r.exited.length === 0 && r.undelivered === 0 && r.deliveredCounterVsLedger.delivered_count === r.deliveredCounterVsLedger.ledger_deliveries;
  return [
    `targets ${r.targets} · wall ${(r.wallMs / 1000).toFixed(1)} s · task ${r.taskStatus}`,
    ...r.faults.map((f) => `  ${f.fault.padEnd(44)} at ${(f.atProgress * 100).toFixed(0).padStart(3)}%${f.downMs !== undefined ? ` down ${f.downMs} ms` : ''} → every account sending again after ${f.recoveryMs ?? 'never'} ms`),
    `ledger: ${r.ledger.unique_keys} keys delivered, ${r.ledger.total_deliveries} deliveries, ${r.ledger.duplicate_requests} repeated requests recognised`,
    `lost ${r.lost} · duplicated ${r.duplicated} · messages ${JSON.stringify(r.rows)}`,
    `counters ${JSON.stringify(r.counters)} → ${r.countersMatchRows ? 'match the rows' : 'DO NOT match the rows'}`,
    `delivered_count ${r.deliveredCounterVsLedger.delivered_count} vs ledger deliveries ${r.deliveredCounterVsLedger.ledger_deliveries} · not delivered ${r.undelivered}`,
    `processes exited on their own: ${r.exited.length ? JSON.stringify(r.exited) : 'none'} · unhandled rejections logged: ${r.unhandledRejections}`,
    ...r.unhandledSamples.map((l) => `  ${l}`),
    ok ? 'VERDICT: pass' : 'VERDICT: FAIL',
  ];
}
