/**
 * `npm run bench:scale` — million-recipient campaigns (issue 17), each figure next to a baseline measured
 * in the same run. By default everything runs against a private MariaDB started for the bench with the
 * stock 128 MB buffer pool (BENCH_DB=shared uses DB_* instead), plus the usual Redis and a simulator.
 *
 * Cases (BENCH_CASES, comma-separated; default expand,send,reads,noisy):
 *  expand  Expansion from CSV of each size in BENCH_SIZES (100000,1000000) vs a bare multi-row INSERT of
 *          the same rows (UUIDv7 ids) + BullMQ addBulk, in alternating order per round (BENCH_ROUNDS).
 *          Targets: ratio ≤ 1.5 at each size; growth (time per 100k at the largest size / at the
 *          smallest) ≤ 1.3. Also prints InnoDB buffer-pool disk reads per 100k targets.
 *  send    Unthrottled send of the BENCH_BIG (1000000) task (5% rejected by the gateway) by a worker
 *          process: rate over the last 10% of deliveries vs the first 10%. Target ≥ 90%. Each tenth
 *          also shows buffer-pool disk reads, CPU per message of MariaDB, the worker and this process,
 *          and InnoDB's purge backlog. The task is expanded first by a process with the worker role's
 *          node flags (its peak RSS is printed).
 *  reads   On that task, from a fresh API process over HTTP: progress snapshot, first and hundredth page
 *          of the recipient list filtered by `failed` (median, p95), report CSV export (time, peak RSS of
 *          the API process), hourly roll-up of the task's hour; the report's read along the primary key vs
 *          the per-status merge over the first BENCH_REPORT_ROWS (200000) rows, interleaved.
 *  noisy   One all-roles process; tenant A runs a BENCH_NOISY_TARGETS (300000) import task unthrottled,
 *          tenant B 5-target tasks alone, during A's expansion, during A's sending, and while A is
 *          cancelled. Targets: B within 2 × alone + 0.5 s; A's cancel answers < 1 s and its sends stop
 *          within 1 s.
 *  cause   Diagnosis: BENCH_CAUSE_ROWS (300000) rows inserted with the task's hashed ids vs appending
 *          ids, with and without the secondary indexes: time and buffer-pool disk reads per 100k.
 *  indexes Insert cost of each secondary index of `messages` (appending ids, BENCH_CAUSE_ROWS rows).
 *
 * Peak RSS of every process is printed (target ≤ 512 MB). This process hosts the simulator, whose
 * delivery ledger keeps every message of the run (the exactly-once check; ~60 B each), so its figure
 * is mostly the test peer's, not a product role's. Env: BENCH_DB (private|shared),
 * BENCH_BUFFER_POOL (128M), BENCH_SIZES, BENCH_ROUNDS (1), BENCH_BIG, BENCH_NOISY_TARGETS,
 * BENCH_NOISY_ROUNDS (3), BENCH_ACCOUNTS (4), BENCH_LANES (16), BENCH_CAUSE_ROWS, BENCH_REPORT_ROWS, BENCH_EXPAND_CHUNK, BENCH_CPU_PROF (a directory: each child process
 * writes a V8 CPU profile there on exit).
 */
import { deleteRedisPrefix } from './lib/redis-prefix';
import { deployedNodeFlags } from './lib/deployed-node-flags';
import 'dotenv/config';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { Queue } from 'bullmq';

const CASES = new Set((process.env.BENCH_CASES ?? 'expand,send,reads,noisy').split(',').map((c) => c.trim()));
const SIZES = (process.env.BENCH_SIZES ?? '100000,1000000').split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const BIG = Number(process.env.BENCH_BIG ?? 1_000_000);
const NOISY_TARGETS = Number(process.env.BENCH_NOISY_TARGETS ?? 300_000);
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 4);
/** Runs of B during A's expansion. */
const NOISY_ROUNDS = Number(process.env.BENCH_NOISY_ROUNDS ?? 3);
const LANES = Number(process.env.BENCH_LANES ?? 16);
const CAUSE_ROWS = Number(process.env.BENCH_CAUSE_ROWS ?? 300_000);
const REPORT_ROWS = Number(process.env.BENCH_REPORT_ROWS ?? 200_000);
/** Targets per expansion chunk in the expand case (default: the product's EXPAND_CHUNK). */
const EXPAND_CHUNK = process.env.BENCH_EXPAND_CHUNK ? Number(process.env.BENCH_EXPAND_CHUNK) : undefined;
const PRIVATE_DB = (process.env.BENCH_DB ?? 'private') === 'private';
const BUFFER_POOL = process.env.BENCH_BUFFER_POOL ?? '128M';
/** Share of the big task's targets the gateway refuses (so the recipient list has `failed` rows). */
const REJECT_EVERY = 20;

const mb = (kb: number) => Math.round(kb / 1024);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const sec = (ms: number) => (ms / 1000).toFixed(2);
/** The machine's load averages (1, 5, 15 min), printed next to figures: the machine is shared. */
const load = () => `load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => quantile(xs, 0.5);
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}
const msStats = (xs: number[]) => `median ${median(xs).toFixed(1)} ms, p95 ${quantile(xs, 0.95).toFixed(1)} ms (n=${xs.length})`;

// --- a private MariaDB with the stock buffer pool ------------------------------------------------------

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface PrivateDb {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

async function startPrivateMariadb(tag: string): Promise<PrivateDb> {
  const dir = `/tmp/wwp-bench-scale-${tag}`;
  mkdirSync(dir, { recursive: true });
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  execFileSync('mariadb-install-db', ['--no-defaults', `--datadir=${dir}/data`, ...asRoot, '--auth-root-authentication-method=normal', '--skip-test-db'], { stdio: 'ignore' });
  const port = await freePort();
  const child = spawn(
    'mariadbd',
    ['--no-defaults', `--datadir=${dir}/data`, `--port=${port}`, `--socket=${dir}/sock`, '--bind-address=127.0.0.1', ...asRoot, `--innodb-buffer-pool-size=${BUFFER_POOL}`, '--max-connections=500', `--log-error=${dir}/error.log`],
    { stdio: 'ignore' },
  );
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const exitOnSignal = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', exitOnSignal);
  process.once('SIGTERM', exitOnSignal);
  // However the bench ends, the private server does not outlive it.
  process.once('exit', () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
  const { default: mysql } = await import('mysql2/promise');
  for (let i = 0; ; i += 1) {
    try {
      const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root' });
      await c.end();
      break;
    } catch (err) {
      if (i > 100 || child.exitCode !== null) {
        await stop();
        throw new Error(`private mariadbd did not start: ${(err as Error).message}`);
      }
      await sleep(200);
    }
  }
  return { port, pid: child.pid!, stop };
}

/** CPU seconds (user + system) a process used so far, from /proc; NaN where unavailable. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

function rssKbOf(pid: number | undefined): number {
  try {
    const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

// --- child processes ---------------------------------------------------------------------------------

/**
 * Child roles: `worker` (expand + send workers), `api` (the HTTP API), `all` (API + every worker, the
 * issue's noisy-neighbour setup). Prints `ready <api url>`; answers `rss` on stdin with its peak RSS;
 * on SIGTERM closes and prints its peak RSS.
 */
async function runChild(mode: string): Promise<void> {
  const { loadConfig } = await import('../src/config');
  const { createAppContext } = await import('../src/context');
  const ctx = createAppContext(loadConfig());
  const closers: Array<() => Promise<void>> = [];
  let url = '';
  if (mode === 'api' || mode === 'all') {
    const { startApiServer } = await import('../src/server');
    const api = await startApiServer(ctx, 0, '127.0.0.1');
    url = api.url;
    closers.push(() => api.close());
  }
  if (mode === 'worker') {
    const { startMessageSendWorker } = await import('../workers/message-send.worker');
    const { startTaskExpandWorker } = await import('../workers/task-expand.worker');
    for (const w of [startTaskExpandWorker(ctx), startMessageSendWorker(ctx, { sender: { concurrency: LANES } })]) closers.push(() => w.close());
  }
  if (mode === 'all') {
    const { WORKERS } = await import('../workers');
    for (const start of WORKERS) {
      const w = await start(ctx);
      closers.push(() => w.close());
    }
  }
  const report = () => JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS, heapMb: Math.round(process.memoryUsage().heapUsed / 1048576) });
  // Where a neighbour's wait comes from: the event loop's delay and the DB pool's queue (sampled every 20 ms).
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const pool = (ctx.db.client as { pool: { numUsed(): number; numPendingAcquires(): number } }).pool;
  const poolSeen = { used: 0, pending: 0, inflight: [] as string[] };
  // Statements in flight (sent, not answered), to show what holds the pool's connections when it is fullest.
  const inflight = new Map<string, string>();
  type QueryEvent = { __knexQueryUid: string; sql: string };
  ctx.db.on('query', (q: QueryEvent) => inflight.set(q.__knexQueryUid, q.sql));
  for (const ev of ['query-response', 'query-error']) ctx.db.on(ev, (_r: unknown, q: QueryEvent) => inflight.delete(q.__knexQueryUid));
  setInterval(() => {
    poolSeen.used = Math.max(poolSeen.used, pool.numUsed());
    const pending = pool.numPendingAcquires();
    if (pending > poolSeen.pending) poolSeen.inflight = [...inflight.values()].map((sql) => sql.replace(/\s+/g, ' ').replace(/`/g, '').slice(0, 44));
    poolSeen.pending = Math.max(poolSeen.pending, pending);
  }, 20).unref();
  const stats = () => {
    const kinds = new Map<string, number>();
    for (const k of poolSeen.inflight) kinds.set(k, (kinds.get(k) ?? 0) + 1);
    const atFullest = [...kinds].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, n]) => `${n}× ${k}`);
    const out = JSON.stringify({ loopP99Ms: loop.percentile(99) / 1e6, loopMaxMs: loop.max / 1e6, poolUsedMax: poolSeen.used, poolPendingMax: poolSeen.pending, atFullest });
    loop.reset();
    poolSeen.used = 0;
    poolSeen.pending = 0;
    poolSeen.inflight = [];
    return out;
  };
  // BENCH_PHASE_PROF=<dir>: `prof <name>` writes the CPU profile since the previous `prof` to <dir>/<name>.cpuprofile.
  const phaseProf = process.env.BENCH_PHASE_PROF;
  const { Session } = await import('node:inspector/promises');
  const inspector = phaseProf ? new Session() : null;
  if (inspector) {
    inspector.connect();
    await inspector.post('Profiler.enable');
    await inspector.post('Profiler.start');
  }
  const { writeFileSync } = await import('node:fs');
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() === 'rss') process.stdout.write(`rss ${report()}\n`);
    if (line.trim() === 'stats') process.stdout.write(`stats ${stats()}\n`);
    if (line.startsWith('prof ')) {
      const name = line.slice(5).trim();
      void (async () => {
        if (inspector) {
          const { profile } = await inspector.post('Profiler.stop');
          writeFileSync(`${phaseProf}/${name}.cpuprofile`, JSON.stringify(profile));
          await inspector.post('Profiler.start');
        }
        process.stdout.write(`prof ${name}\n`);
      })().catch((err: Error) => process.stdout.write(`prof ${name} failed: ${err.message}\n`));
    }
  });
  process.stdout.write(`ready ${url}\n`);
  process.on('SIGTERM', () => {
    void (async () => {
      for (const c of closers.reverse()) await c();
      await ctx.close();
      process.stdout.write(`exit ${report()}\n`);
      process.exit(0);
    })();
  });
}

interface Child {
  child: ChildProcess;
  url: string;
  next(prefix: string): Promise<string>;
  rss(): Promise<{ maxRssKb: number; heapMb: number }>;
  /** Event-loop delay and DB pool use since the previous call. */
  stats(): Promise<{ loopP99Ms: number; loopMaxMs: number; poolUsedMax: number; poolPendingMax: number; atFullest: string[] }>;
  stop(): Promise<{ maxRssKb: number; heapMb: number }>;
  /** With BENCH_PHASE_PROF: the child writes its CPU profile since the previous call as <name>.cpuprofile. */
  prof(name: string): Promise<void>;
}

async function spawnChild(mode: 'worker' | 'api' | 'all', env: Record<string, string>): Promise<Child> {
  // BENCH_CPU_PROF=<dir>: each child writes a V8 CPU profile there on exit (where a process's time went).
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
  // A role's child runs with the node flags docker-compose.yml gives that role (the worker's heap limit).
  const flags = mode === 'all' ? [] : deployedNodeFlags(mode);
  const child = spawn(process.execPath, [...flags, '--expose-gc', ...prof, '--import', 'tsx', __filename, '--child', mode], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  child.stdin!.on('error', () => undefined);
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(l);
    for (const w of waiters.splice(0)) w();
  });
  const next = async (prefix: string) => {
    for (;;) {
      const i = lines.findIndex((l) => l.startsWith(prefix));
      if (i >= 0) return lines.splice(i, 1)[0].slice(prefix.length).trim();
      if (child.exitCode !== null) throw new Error(`${mode} child exited (${child.exitCode})`);
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  const url = await next('ready');
  return {
    child,
    url,
    next,
    async rss() {
      child.stdin!.write('rss\n');
      return JSON.parse(await next('rss'));
    },
    async stats() {
      child.stdin!.write('stats\n');
      return JSON.parse(await next('stats'));
    },
    async prof(name: string) {
      if (!process.env.BENCH_PHASE_PROF) return;
      child.stdin!.write(`prof ${name}\n`);
      await next('prof');
    },
    async stop() {
      child.kill('SIGTERM');
      return JSON.parse(await next('exit'));
    },
  };
}

// --- parent ------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const tag = randomBytes(4).toString('hex');
  const db = PRIVATE_DB ? await startPrivateMariadb(tag) : null;
  const dbEnv: Record<string, string> = db ? { DB_HOST: '127.0.0.1', DB_PORT: String(db.port), DB_USER: 'root', DB_PASSWORD: '' } : {};
  try {
    await bench(tag, dbEnv, db);
  } finally {
    await db?.stop();
  }
}

async function bench(tag: string, dbEnv: Record<string, string>, privateDb: PrivateDb | null): Promise<void> {
  const { loadConfig } = await import('../src/config');
  const { createAppContext } = await import('../src/context');
  const { dropDatabase, ensureDatabase } = await import('../src/db/knex');
  const { prepareDatabase } = await import('../src/db/migrator');
  const { insertTenant } = await import('../src/db/tenants');
  const { insertUser } = await import('../src/db/users');
  const { assignRole } = await import('../src/db/roles');
  const { signAccessToken } = await import('../src/auth/access-tokens');
  const { newId } = await import('../src/db/ids');
  const { insertTask } = await import('../src/db/tasks');
  const { insertMessagesIgnore } = await import('../src/db/messages');
  const { rollupMessageStatistics, hourStart } = await import('../src/db/statistics');
  const { startSimulator } = await import('../src/gateway/simulator');
  const { applyTaskAction } = await import('../src/sending/task-control');
  const { expandTask } = await import('../src/sending/expand');
  const { createRedis } = await import('../src/redis');

  const sim = await startSimulator({ port: 0, callbackSecret: 'bench-callback-secret', autoLogin: false, limits: { maxInstances: 10_000, maxLedgerKeys: 2_500_000, maxPendingReceipts: 10 } });
  // Deliveries per simulator instance, with the time of the last one (sends stop within 1 s of a cancel).
  const deliveries = { total: 0, lastAt: new Map<string, number>(), marks: [] as number[] };
  let markEvery = 0;
  const engine = sim.control as unknown as { send: (guid: string, req: unknown) => { duplicate: boolean } };
  const send = engine.send.bind(engine);
  engine.send = (guid, req) => {
    const r = send(guid, req);
    if (!r.duplicate) {
      deliveries.total += 1;
      deliveries.lastAt.set(guid, Date.now());
      if (markEvery && deliveries.total % markEvery === 0) deliveries.marks.push(Date.now());
    }
    return r;
  };
  sim.control.configure({ receipt_delay_ms: 3_600_000, rejected_words: ['REJECT'] });

  const childEnv = {
    ...dbEnv,
    DB_NAME: `wwp_bench_scale_${tag}`,
    REDIS_PREFIX: `{wwp-bench-scale-${tag}}`,
    SIMULATOR_PORT: new URL(sim.url).port,
    LOG_LEVEL: 'warn',
    CRON_ENABLED: 'false',
    FILES_DIR: `/tmp/wwp-bench-scale-files-${tag}`,
    // Tokens signed here must outlive a slow run.
    ACCESS_TOKEN_TTL_SECONDS: '86400',
  };
  const config = loadConfig({ ...process.env, ...childEnv });
  await ensureDatabase(config.db);
  const ctx = createAppContext(config);
  await prepareDatabase(ctx.db, config.partitions.monthsAhead);
  const mysqlPid = privateDb?.pid;
  console.log(`bench:scale — MariaDB ${privateDb ? `private, port ${privateDb.port}` : `shared ${config.db.host}:${config.db.port}`}, buffer pool ${(await bufferPoolMb())} MB; cases ${[...CASES].join(',')}`);

  async function bufferPoolMb(): Promise<number> {
    const [[row]] = (await ctx.db.raw('SELECT @@innodb_buffer_pool_size AS b')) as [[{ b: number }]];
    return Math.round(Number(row.b) / 1048576);
  }
  /** Undo records waiting for purge: grows when purge falls behind the status changes (old row versions to step over). */
  async function purgeBacklog(): Promise<number> {
    const [rows] = (await ctx.db.raw("SELECT `count` AS n FROM information_schema.INNODB_METRICS WHERE name = 'trx_rseg_history_len'")) as [[{ n: number }]];
    return Number(rows[0]?.n ?? Number.NaN);
  }
  async function diskReads(): Promise<number> {
    const [rows] = (await ctx.db.raw("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_reads'")) as [[{ Value: string }]];
    return Number(rows[0].Value);
  }
  const truncateMessages = () => ctx.db.raw('TRUNCATE TABLE messages');

  const cleanup = async () => {
    await ctx.close();
    await dropDatabase(config.db);
    await deleteRedisPrefix(config.redis);
    await sim.close();
    rmSync(childEnv.FILES_DIR, { recursive: true, force: true });
  };

  const rssLines: string[] = [];
  try {
    const makeTenant = async (label: string) => {
      const { id: tenantId, roleIds } = await ctx.db.transaction((trx) =>
        insertTenant(trx, { tenantCode: `${label}${tag}`, tenantName: label, maxAccounts: 100_000, maxDailyMessages: 100_000_000, timezone: 'UTC' }),
      );
      const userId = await insertUser(ctx.db, { tenantId, username: `op_${label}_${tag}`, email: `op_${label}_${tag}@example.test`, passwordHash: 'x' });
      await assignRole(ctx.db, userId, roleIds.admin, userId);
      return { tenantId, userId, token: signAccessToken(config.auth, { sub: userId, tid: tenantId, kind: 'user' }) };
    };
    const makeAccounts = async (tenantId: string, n: number) => {
      const out: Array<{ id: string; guid: string }> = [];
      for (let i = 0; i < n; i += 1) {
        const { guid } = sim.control.createInstance(`bench-${i}`);
        await sim.control.startLogin(guid);
        sim.control.scan(guid);
        sim.control.confirm(guid);
        const id = newId();
        out.push({ id, guid });
        await ctx.db('wework_accounts').insert({ id, tenant_id: tenantId, account_name: `bench-${tag}-${randomBytes(4).toString('hex')}`, guid, status: 'online' });
      }
      return out;
    };
    /** A CSV of n targets; every REJECT_EVERY-th is refused by the gateway when `rejects` is set. */
    const importFile = async (tenantId: string, n: number, rejects = false) => {
      const fileId = newId();
      const key = `tenants/${tenantId}/import/${fileId}.csv`;
      async function* lines() {
        yield 'conversation_id,name\n';
        let chunk = '';
        for (let i = 0; i < n; i += 1) {
          chunk += `wm${tag}c${i},n${i}${rejects && i % REJECT_EVERY === 7 ? 'REJECT' : ''}\n`;
          if (chunk.length > 64_000) {
            yield chunk;
            chunk = '';
          }
        }
        yield chunk;
      }
      await ctx.storage.put(key, Readable.from(lines()), { contentType: 'text/csv' });
      await ctx.db('files').insert({ id: fileId, tenant_id: tenantId, purpose: 'import', object_key: key, file_name: 'bench.csv', content_type: 'text/csv' });
      return fileId;
    };
    const newTask = async (tenantId: string, creator: string, accountIds: string[], fileId: string, status: 'created' | 'paused' = 'created') => {
      const id = newId();
      await insertTask(ctx.db, {
        id,
        tenant_id: tenantId,
        creator_id: creator,
        task_name: `bench-${id.slice(-6)}`,
        account_id: accountIds[0],
        account_ids: accountIds,
        template_id: null,
        message_content: { content: { type: 'text', text: 'Hello {{name}}' }, variables: {}, definitions: [{ name: 'name', required: true }] },
        target_type: 'import',
        target_config: { file_id: fileId },
        send_strategy: { rate_per_minute: 0, jitter: 0, window: null, retry: { max_attempts: 3, backoff_ms: 1000, backoff: 'fixed' }, error_threshold: 0 },
        priority: 5,
        scheduled_time: null,
      });
      if (status === 'paused') await ctx.db('batch_send_tasks').where({ id }).update({ status: 'paused', start_time: new Date() });
      return id;
    };
    const taskRow = (id: string) => ctx.db('batch_send_tasks').where({ id }).first();
    /**
     * Time and buffer-pool disk reads per 100k targets of a running expansion, from its cursor polled
     * every second: a growth that builds up slice by slice is the table outgrowing the pool; a flat
     * profile with a jump at the end is the final recount.
     */
    const watchExpansion = (taskId: string) => {
      const slices: string[] = [];
      let busy = false;
      let at = { n: 0, t: Date.now(), reads: Number.NaN };
      void diskReads().then((r) => (at.reads = r), () => undefined);
      const timer = setInterval(() => {
        if (busy) return;
        busy = true;
        void Promise.all([taskRow(taskId), diskReads()])
          .then(([row, reads]) => {
            const n = Number(row?.expansion_cursor ?? 0);
            if (n - at.n < 100_000) return;
            const now = Date.now();
            slices.push(`${sec(((now - at.t) * 100_000) / (n - at.n))} s/${fmt(((reads - at.reads) * 100_000) / (n - at.n))} reads`);
            at = { n, t: now, reads };
          })
          .catch(() => undefined)
          .finally(() => (busy = false));
      }, 1000);
      return () => {
        clearInterval(timer);
        return slices.length ? `per 100k: ${slices.join(' · ')}; after the last cursor step ${sec(Date.now() - at.t)} s` : '';
      };
    };

    const A = await makeTenant('a');
    const accounts = await makeAccounts(A.tenantId, ACCOUNTS);
    const accountIds = accounts.map((a) => a.id);

    // ---- cause: hashed vs appending ids, with and without secondary indexes ----
    if (CASES.has('cause') || CASES.has('indexes')) {
      const [idxRows] = (await ctx.db.raw(
        `SELECT INDEX_NAME AS name, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) AS cols FROM information_schema.STATISTICS
          WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'messages' AND INDEX_NAME <> 'PRIMARY' GROUP BY INDEX_NAME ORDER BY INDEX_NAME`,
      )) as [Array<{ name: string; cols: string }>];
      const taskId = newId();
      const start = new Date();
      // The layout main had before issue 17: the task's start time, then a hash of (task, target).
      const hashed = (i: number) => {
        const h = createHash('sha256').update(taskId).update('\n').update(`wm${tag}c${i}`).digest('hex');
        const t = start.getTime().toString(16).padStart(12, '0');
        return `${t.slice(0, 8)}-${t.slice(8, 12)}-8${h.slice(0, 3)}-${((parseInt(h[3], 16) & 0x3) | 0x8).toString(16)}${h.slice(4, 7)}-${h.slice(7, 19)}`;
      };
      const appending = (i: number) => {
        const t = start.getTime().toString(16).padStart(12, '0');
        const n = i.toString(16).padStart(18, '0');
        return `${t.slice(0, 8)}-${t.slice(8, 12)}-8${n.slice(0, 3)}-8${n.slice(3, 6)}-${n.slice(6, 18)}`;
      };
      const insertRows = async (label: string, idOf: (i: number) => string) => {
        await truncateMessages();
        const slices: string[] = [];
        let t0 = Date.now();
        let r0 = await diskReads();
        const began = t0;
        for (let i = 0; i < CAUSE_ROWS; i += 1000) {
          const rows = [];
          for (let j = i; j < Math.min(CAUSE_ROWS, i + 1000); j += 1) {
            rows.push({
              id: idOf(j), tenant_id: A.tenantId, account_id: accountIds[j % accountIds.length], conversation_id: `wm${tag}c${j}`, message_type: 'text',
              content: JSON.stringify({ type: 'text', text: `Hello n${j}` }), template_id: null, batch_id: taskId, priority: 5, scheduled_time: null, created_at: start,
            });
          }
          await insertMessagesIgnore(ctx.db, rows);
          if ((i + 1000) % 100_000 === 0) {
            const r1 = await diskReads();
            slices.push(`${sec(Date.now() - t0)} s/${fmt(r1 - r0)} reads`);
            t0 = Date.now();
            r0 = r1;
          }
        }
        const total = Date.now() - began;
        console.log(`   ${label.padEnd(44)} ${sec(total).padStart(7)} s   per 100k: ${slices.join(' · ')}`);
        return total;
      };
      if (CASES.has('cause')) {
        console.log(`\ncause. ${fmt(CAUSE_ROWS)} rows of one task, 1000-row INSERTs (time, buffer-pool disk reads per 100k rows)`);
        await insertRows('task-hashed ids, all indexes', hashed);
        await insertRows('appending ids, all indexes', appending);
        for (const { name } of idxRows) await ctx.db.raw(`ALTER TABLE messages DROP INDEX \`${name}\``);
        await insertRows('task-hashed ids, primary key only', hashed);
        await insertRows('appending ids, primary key only', appending);
        await truncateMessages();
        for (const { name, cols } of idxRows) await ctx.db.raw(`ALTER TABLE messages ADD INDEX \`${name}\` (${cols.split(',').map((c) => `\`${c}\``).join(',')})`);
      }
      if (CASES.has('indexes')) {
        console.log(`\nindexes. insert cost of each secondary index: ${fmt(CAUSE_ROWS)} rows with appending ids, without that index`);
        const all = await insertRows('all indexes', appending);
        for (const { name, cols } of idxRows) {
          await ctx.db.raw(`ALTER TABLE messages DROP INDEX \`${name}\``);
          const without = await insertRows(`without ${name} (${cols})`, appending);
          console.log(`      → ${name} costs ${sec(all - without)} s per ${fmt(CAUSE_ROWS)} (${(((all - without) / all) * 100).toFixed(0)}%)`);
          await truncateMessages();
          await ctx.db.raw(`ALTER TABLE messages ADD INDEX \`${name}\` (${cols.split(',').map((c) => `\`${c}\``).join(',')})`);
        }
      }
      await truncateMessages();
    }

    // ---- expand: expansion vs bare INSERT + addBulk, each size ----
    let bigTaskId: string | null = null;
    if (CASES.has('expand')) {
      console.log(`\nexpand. expansion from CSV vs bare multi-row INSERT (UUIDv7) + addBulk; ${ROUNDS} round(s) per size, order alternating; messages emptied before each run`);
      const results: Array<{ n: number; expand: number[]; bare: number[] }> = [];
      // A connection handed to BullMQ stays open after close(): quit below.
      const scratchRedis = createRedis(config.redis, 'blocking');
      const scratch = new Queue(`bench-bare-${tag}`, { connection: scratchRedis as never, prefix: config.redis.prefix });
      for (const n of SIZES) {
        const res = { n, expand: [] as number[], bare: [] as number[] };
        const fileId = await importFile(A.tenantId, n, true);
        const runExpand = async () => {
          await truncateMessages();
          const taskId = await newTask(A.tenantId, A.userId, accountIds, fileId, 'paused');
          const r0 = await diskReads();
          const cpu0 = cpuSeconds(mysqlPid);
          const cpuSelf0 = process.cpuUsage();
          const t0 = Date.now();
          const watch = watchExpansion(taskId);
          const outcome = await expandTask(ctx, taskId, { chunkSize: EXPAND_CHUNK });
          const ms = Date.now() - t0;
          const slices = watch();
          const reads = (await diskReads()) - r0;
          const self = process.cpuUsage(cpuSelf0);
          const t = await taskRow(taskId);
          res.expand.push(ms);
          console.log(`   ${fmt(n)} expandTask: ${sec(ms)} s (${outcome}, total_count ${fmt(t.total_count)}; ${fmt((reads * 100_000) / n)} disk reads per 100k; MariaDB CPU ${(cpuSeconds(mysqlPid) - cpu0).toFixed(1)} s, bench process CPU ${((self.user + self.system) / 1e6).toFixed(1)} s; ${load()})`);
          if (slices) console.log(`      ${slices}`);
          if (n === BIG) bigTaskId = taskId;
        };
        const runBare = async () => {
          await truncateMessages();
          const batch = newId();
          const at = new Date();
          const r0 = await diskReads();
          const t0 = Date.now();
          for (let i = 0; i < n; i += 1000) {
            const rows = [];
            for (let j = i; j < Math.min(n, i + 1000); j += 1) {
              rows.push({
                id: newId(), tenant_id: A.tenantId, account_id: accountIds[j % accountIds.length], conversation_id: `wm${tag}c${j}`, message_type: 'text',
                content: JSON.stringify({ type: 'text', text: `Hello n${j}` }), template_id: null, batch_id: batch, priority: 5, scheduled_time: null, created_at: at,
              });
            }
            await insertMessagesIgnore(ctx.db, rows);
            await scratch.addBulk(rows.map((r) => ({ name: 'send', data: { messageId: r.id }, opts: { removeOnComplete: true } })));
          }
          const ms = Date.now() - t0;
          const reads = (await diskReads()) - r0;
          await scratch.obliterate({ force: true });
          res.bare.push(ms);
          console.log(`   ${fmt(n)} bare INSERT + addBulk: ${sec(ms)} s (${fmt((reads * 100_000) / n)} disk reads per 100k)`);
        };
        for (let r = 0; r < ROUNDS; r += 1) {
          // The big size's last expansion is kept for the send and reads cases: it runs last.
          if (r % 2 === 0 && !(n === BIG && r === ROUNDS - 1)) {
            await runExpand();
            await runBare();
          } else {
            await runBare();
            await runExpand();
          }
        }
        results.push(res);
        const ratio = median(res.expand) / median(res.bare);
        console.log(`   ${fmt(n)}: ratio expansion / bare = ${ratio.toFixed(2)} (target ≤ 1.5)`);
      }
      await scratch.close();
      await scratchRedis.quit();
      if (results.length > 1) {
        const first = results[0];
        const last = results[results.length - 1];
        const per = (ms: number, n: number) => (ms * 100_000) / n;
        const growth = per(median(last.expand), last.n) / per(median(first.expand), first.n);
        const bareGrowth = per(median(last.bare), last.n) / per(median(first.bare), first.n);
        console.log(`   growth: time per 100k targets at ${fmt(last.n)} / at ${fmt(first.n)} = ${growth.toFixed(2)} (target ≤ 1.3); bare: ${bareGrowth.toFixed(2)}`);
      }
      rssLines.push(`bench process (expansions ran in it, simulator): ${mb(process.resourceUsage().maxRSS)} MB`);
    }

    // ---- send: unthrottled 1M, rate over the first vs last 10% ----
    if (CASES.has('send') || CASES.has('reads')) {
      if (!bigTaskId) {
        console.log(`\n(preparing a ${fmt(BIG)}-message task for send/reads)`);
        await truncateMessages();
        const fileId = await importFile(A.tenantId, BIG, true);
        bigTaskId = await newTask(A.tenantId, A.userId, accountIds, fileId, 'paused');
        const t0 = Date.now();
        const r0 = await diskReads();
        const cpu0 = cpuSeconds(mysqlPid);
        const watch = watchExpansion(bigTaskId);
        // In a process of its own with the worker role's flags, as a deployment expands it (its peak RSS counts).
        const expander = await expandInWorkerProcess(bigTaskId, childEnv);
        console.log(`   expandTask: ${sec(Date.now() - t0)} s; ${fmt((((await diskReads()) - r0) * 100_000) / BIG)} disk reads per 100k; MariaDB CPU ${(cpuSeconds(mysqlPid) - cpu0).toFixed(1)} s, expanding process CPU ${expander.cpuS.toFixed(1)} s (${load()})`);
        console.log(`      ${watch()}`);
        rssLines.push(`worker-role process expanding the ${fmt(BIG)}-target task: ${mb(expander.maxRssKb)} MB`);
      }
    }
    if (CASES.has('send') && bigTaskId) {
      const t = await taskRow(bigTaskId);
      const total = Number(t.total_count);
      console.log(`\nsend. unthrottled send of the ${fmt(total)}-message task, ${ACCOUNTS} accounts × ${LANES} lanes (1 in ${REJECT_EVERY} refused by the gateway)`);
      const worker = await spawnChild('worker', childEnv);
      deliveries.total = 0;
      deliveries.marks = [];
      markEvery = Math.max(1, Math.floor((total * (REJECT_EVERY - 1)) / REJECT_EVERY / 100));
      const cpu0 = [cpuSeconds(worker.child.pid), cpuSeconds(mysqlPid)];
      const t0 = Date.now();
      await applyTaskAction(ctx, A.tenantId, bigTaskId, 'resume');
      // Each tenth of the deliveries as it completes (a long run killed by its timeout still shows the trend),
      // with the buffer pool's disk reads and MariaDB's CPU since the previous tenth (sampled every 500 ms).
      let decilesShown = 0;
      const benchCpu = () => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1e6;
      };
      let [reads0, dbCpu0, workerCpu0, benchCpu0] = [await diskReads(), cpuSeconds(mysqlPid), cpuSeconds(worker.child.pid), benchCpu()];
      for (;;) {
        const row = await taskRow(bigTaskId);
        for (; (decilesShown + 1) * 10 <= deliveries.marks.length; decilesShown += 1) {
          const end = deliveries.marks[(decilesShown + 1) * 10 - 1];
          const begin = decilesShown ? deliveries.marks[decilesShown * 10 - 1] : t0;
          const [reads1, dbCpu1, workerCpu1, benchCpu1] = [await diskReads(), cpuSeconds(mysqlPid), cpuSeconds(worker.child.pid), benchCpu()];
          const n = markEvery * 10;
          const perMessage = (a: number, b: number) => (((b - a) * 1e6) / n).toFixed(0);
          // CPU per message of each process: the harness (simulator, ledger) shares the 2 cores with the product.
          console.log(
            `   deliveries ${decilesShown * 10}-${(decilesShown + 1) * 10}%: ${fmt((n * 1000) / (end - begin))} msg/s; ${fmt(((reads1 - reads0) * 100_000) / n)} disk reads per 100k; µs CPU per message: MariaDB ${perMessage(dbCpu0, dbCpu1)}, worker ${perMessage(workerCpu0, workerCpu1)}, bench process ${perMessage(benchCpu0, benchCpu1)}; purge backlog ${fmt(await purgeBacklog())} (${load()})`,
          );
          [reads0, dbCpu0, workerCpu0, benchCpu0] = [reads1, dbCpu1, workerCpu1, benchCpu1];
        }
        if (row.status === 'completed' || row.status === 'failed') break;
        if (row.status !== 'running') throw new Error(`task ${row.status}: ${row.error_message}`);
        await sleep(500);
      }
      const ms = Date.now() - t0;
      const cpu = [cpuSeconds(worker.child.pid) - cpu0[0], cpuSeconds(mysqlPid) - cpu0[1]];
      const rss = await worker.stop();
      const m = deliveries.marks;
      const first = (markEvery * 10 * 1000) / (m[9] - t0);
      const last = (markEvery * 10 * 1000) / (m[99] - m[89]);
      console.log(`   ${fmt(deliveries.total)} delivered in ${sec(ms)} s → ${fmt((deliveries.total * 1000) / ms)} msg/s; worker CPU ${cpu[0].toFixed(0)} s, MariaDB CPU ${cpu[1].toFixed(0)} s`);
      console.log(`   first 10% of deliveries: ${fmt(first)} msg/s; last 10%: ${fmt(last)} msg/s → last/first = ${(last / first).toFixed(2)} (target ≥ 0.90)`);
      rssLines.push(`worker process, ${fmt(total)}-message send: ${mb(rss.maxRssKb)} MB`);
      markEvery = 0;
    }

    // ---- reads: what an operator touches on the big task ----
    if (CASES.has('reads') && bigTaskId) {
      const api = await spawnChild('api', childEnv);
      const get = async (path: string, token = A.token) => {
        const t0 = performance.now();
        const res = await fetch(`${api.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
        const body = (await res.json()) as Record<string, unknown>;
        if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`);
        return { ms: performance.now() - t0, body };
      };
      const counts: Array<{ status: string; n: number }> = await ctx.db('messages').where({ batch_id: bigTaskId }).select('status').count({ n: '*' }).groupBy('status');
      console.log(`\nreads. task of ${counts.map((c) => `${fmt(Number(c.n))} ${c.status}`).join(', ')}; HTTP against a fresh API process`);
      await get(`/api/v1/tasks/${bigTaskId}/progress`);
      const progress: number[] = [];
      for (let i = 0; i < 50; i += 1) progress.push((await get(`/api/v1/tasks/${bigTaskId}/progress`)).ms);
      console.log(`   progress snapshot: ${msStats(progress)}`);
      const taskReads: number[] = [];
      for (let i = 0; i < 50; i += 1) taskReads.push((await get(`/api/v1/tasks/${bigTaskId}`)).ms);
      console.log(`   task with its counters (GET /tasks/:id): ${msStats(taskReads)}`);
      for (const status of ['failed', null] as const) {
        const base = `/api/v1/messages?task_id=${bigTaskId}&limit=50${status ? `&status=${status}` : ''}`;
        const first: number[] = [];
        for (let i = 0; i < 20; i += 1) first.push((await get(base)).ms);
        let cursor: string | null = null;
        for (let page = 1; page < 100; page += 1) {
          const r = await get(cursor ? `${base}&cursor=${cursor}` : base);
          cursor = r.body.next_cursor as string | null;
          if (!cursor) break;
        }
        const hundredth: number[] = [];
        if (cursor) for (let i = 0; i < 20; i += 1) hundredth.push((await get(`${base}&cursor=${cursor}`)).ms);
        const label = status ? `recipient list, status=${status}` : 'recipient list, all statuses';
        console.log(`   ${label}: page 1 ${msStats(first)}; page 100 ${hundredth.length ? msStats(hundredth) : '(fewer than 100 pages)'}`);
      }
      const before = await api.rss();
      const t0 = Date.now();
      const res = await fetch(`${api.url}/api/v1/tasks/${bigTaskId}/report`, { method: 'POST', headers: { authorization: `Bearer ${A.token}` } });
      const body = (await res.json()) as { file?: { id: string; size_bytes: number } };
      const exportMs = Date.now() - t0;
      const after = await api.rss();
      if (!res.ok) throw new Error(`report: ${res.status} ${JSON.stringify(body)}`);
      const file = await ctx.db('files').where({ id: body.file!.id }).first();
      let lines = 0;
      const path = `${config.files.dir}/${file.object_key}`;
      if (existsSync(path)) for await (const _ of createInterface({ input: createReadStream(path) })) lines += 1;
      console.log(`   report export: ${sec(exportMs)} s, ${fmt(body.file!.size_bytes / 1048576)} MB, ${fmt(lines - 1)} rows; API process peak RSS ${mb(before.maxRssKb)} MB before → ${mb(after.maxRssKb)} MB after (${load()})`);
      // The two ways the report can read the task, interleaved over its first BENCH_REPORT_ROWS rows.
      const { taskMessagesInOrder, taskMessagesByStatus } = await import('../src/storage/task-report');
      const readPaths = { 'primary key': taskMessagesInOrder, 'per-status merge': taskMessagesByStatus };
      const readMs: Record<string, number[]> = { 'primary key': [], 'per-status merge': [] };
      for (let round = 0; round < 2; round += 1) {
        for (const [name, read] of round % 2 ? Object.entries(readPaths).reverse() : Object.entries(readPaths)) {
          const t1 = Date.now();
          let n = 0;
          await ctx.db.transaction(async (trx) => {
            for await (const _ of read(trx, A.tenantId, bigTaskId!, 10_000)) if ((n += 1) >= REPORT_ROWS) break;
          });
          readMs[name].push(Date.now() - t1);
        }
      }
      const [pk, merge] = [median(readMs['primary key']), median(readMs['per-status merge'])];
      console.log(`   report reads of the first ${fmt(REPORT_ROWS)} rows, 2 interleaved rounds (${load()}): primary key ${sec(pk)} s (${readMs['primary key'].map(sec).join(', ')}), per-status merge ${sec(merge)} s (${readMs['per-status merge'].map(sec).join(', ')}) → ratio ${(pk / merge).toFixed(2)}`);
      const at = (await taskRow(bigTaskId)).start_time as Date;
      const r0 = Date.now();
      const rolled = await rollupMessageStatistics(ctx.db, hourStart(at), new Date(hourStart(at).getTime() + 3_600_000));
      console.log(`   hourly roll-up of the task's hour: ${sec(Date.now() - r0)} s (${rolled.groups} groups)`);
      // What the buffer pool has to hold: the table and each index of messages at this size (README, database sizing).
      await ctx.db.raw('ANALYZE TABLE messages');
      const sizes: Array<{ index_name: string; bytes: number }> = (
        (await ctx.db.raw(
          `SELECT index_name, SUM(stat_value) * @@innodb_page_size AS bytes FROM mysql.innodb_index_stats
            WHERE database_name = DATABASE() AND table_name LIKE 'messages%' AND stat_name = 'size' GROUP BY index_name ORDER BY bytes DESC`,
        )) as [Array<{ index_name: string; bytes: number }>]
      )[0];
      const totalRows = counts.reduce((n, c) => n + Number(c.n), 0);
      console.log(`   messages on disk for ${fmt(totalRows)} rows: ${sizes.map((x) => `${x.index_name} ${fmt(Number(x.bytes) / 1048576)} MB`).join(', ')}`);
      const rss = await api.stop();
      rssLines.push(`API process (reads and export): ${mb(rss.maxRssKb)} MB`);
    }

    // ---- noisy neighbour ----
    if (CASES.has('noisy')) {
      await truncateMessages();
      const B = await makeTenant('b');
      const bAccount = (await makeAccounts(B.tenantId, 1))[0];
      const aFile = await importFile(A.tenantId, NOISY_TARGETS);
      const app = await spawnChild('all', childEnv);
      const call = async (method: string, path: string, token: string, body?: unknown) => {
        const t0 = performance.now();
        const res = await fetch(`${app.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
        const json = (await res.json()) as Record<string, unknown>;
        if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
        return { ms: performance.now() - t0, body: json };
      };
      const taskOf = async (id: string, token: string) => (await call('GET', `/api/v1/tasks/${id}`, token)).body as { status: string; expansion_done: boolean; total_count: number; sent_count: number; cancelled_count: number };
      /** B: create a 5-target task, then start → completed (wall clock from the start request). */
      const runB = async () => {
        const created = await call('POST', '/api/v1/tasks', B.token, {
          name: 'b-small', account_ids: [bAccount.id], content: { type: 'text', text: 'hi' }, target_type: 'manual',
          targets: Array.from({ length: 5 }, (_, i) => ({ conversation_id: `b-${randomBytes(4).toString('hex')}-${i}` })), send_strategy: { rate_per_minute: 0 },
        });
        const id = created.body.id as string;
        const t0 = Date.now();
        const started = await call('POST', `/api/v1/tasks/${id}/start`, B.token);
        // Where B waits: its expansion done (seen by polling every 20 ms), its first send, its completion.
        let expanded = Number.NaN;
        for (;;) {
          const row = await taskRow(id);
          if (Number.isNaN(expanded) && row.expansion_done) expanded = Date.now() - t0;
          if (row.status === 'completed') {
            const first = (await ctx.db('messages').where({ batch_id: id }).min({ at: 'send_time' }).first()) as { at: Date | null };
            const end = row.end_time.getTime() - t0;
            return { total: end, startAnswer: started.ms, expanded: Number.isNaN(expanded) ? end : expanded, firstSend: first.at ? first.at.getTime() - t0 : Number.NaN };
          }
          if (row.status !== 'running') throw new Error(`B task ${row.status}`);
          await sleep(20);
        }
      };
      /** What MariaDB was running meanwhile: statements sampled every 200 ms, by kind and state (average concurrent). */
      const sampleStatements = () => {
        const seen = new Map<string, number>();
        let samples = 0;
        let busy = false;
        const timer = setInterval(() => {
          if (busy) return;
          busy = true;
          void ctx.db
            .raw(`SELECT INFO AS q, STATE AS st FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query' AND INFO NOT LIKE '%PROCESSLIST%'`)
            .then(([rows]: [Array<{ q: string; st: string }>]) => {
              samples += 1;
              for (const r of rows) {
                const k = `${r.q.replace(/\s+/g, ' ').replace(/`/g, '').slice(0, 48)} [${r.st}]`;
                seen.set(k, (seen.get(k) ?? 0) + 1);
              }
            })
            .catch(() => undefined)
            .finally(() => (busy = false));
        }, 200);
        return () => {
          clearInterval(timer);
          return [...seen].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, n]) => `${(n / Math.max(1, samples)).toFixed(1)}× ${k}`);
        };
      };
      const phase = async (label: string, n: number, during?: () => Promise<boolean>) => {
        const runs: Array<{ total: number; startAnswer: number; expanded: number; firstSend: number; valid: boolean }> = [];
        await app.stats();
        await app.prof(`before-${label.replace(/\W+/g, '-')}`);
        const statements = sampleStatements();
        for (let i = 0; i < n; i += 1) {
          const r = await runB();
          runs.push({ ...r, valid: during ? await during() : true });
        }
        const st = await app.stats();
        await app.prof(label.replace(/\W+/g, '-'));
        const top = statements();
        console.log(`   B ${label.padEnd(22)} start → completed ${runs.map((r) => `${sec(r.total)}${r.valid ? '' : '*'}`).join(', ')} s (start answered in ${runs.map((r) => r.startAnswer.toFixed(0)).join(', ')} ms); process: event-loop delay p99 ${st.loopP99Ms.toFixed(0)} ms, max ${st.loopMaxMs.toFixed(0)} ms; DB pool up to ${st.poolUsedMax} used, ${st.poolPendingMax} waiting (${load()})`);
        console.log(`      B's phases from the start request (ms): ${runs.map((r) => `answer ${r.startAnswer.toFixed(0)} / expanded ${r.expanded} / first send ${r.firstSend} / completed ${r.total}`).join('; ')}`);
        for (const line of top) console.log(`      MariaDB: ${line}`);
        if (st.atFullest.length) console.log(`      in flight when the pool queue was longest: ${st.atFullest.join('; ')}`);
        return runs;
      };
      console.log(`\nnoisy. one all-roles process; A: ${fmt(NOISY_TARGETS)}-target import, ${ACCOUNTS} accounts, unthrottled; B: 5-target tasks on its own account (* = A had left that phase before B finished)`);
      const alone = await phase('alone', 3);
      const aTask = await newTask(A.tenantId, A.userId, accountIds, aFile);
      const aStart = Date.now();
      await call('POST', `/api/v1/tasks/${aTask}/start`, A.token);
      await sleep(1000);
      const expanding = await phase('during A expansion', NOISY_ROUNDS, async () => !(await taskOf(aTask, A.token)).expansion_done);
      let aExpandedMs = 0;
      for (;;) {
        const a = await taskOf(aTask, A.token);
        if (a.expansion_done) break;
        await sleep(100);
      }
      aExpandedMs = Date.now() - aStart;
      console.log(`   A's expansion of ${fmt(NOISY_TARGETS)} targets while its sends ran: ${sec(aExpandedMs)} s`);
      const sending = await phase('during A sending', 3, async () => (await taskOf(aTask, A.token)).status === 'running');
      const beforeCancel = await taskOf(aTask, A.token);
      const cancelAt = Date.now();
      const [cancel, firstB] = await Promise.all([call('POST', `/api/v1/tasks/${aTask}/cancel`, A.token), runB()]);
      const pendingLeft = async () => Number((await ctx.db('messages').where({ batch_id: aTask, status: 'pending' }).count({ n: '*' }).first())!.n);
      const cancelling = [{ ...firstB, valid: true }, ...(await phase('while A is cancelled', 2, async () => (await pendingLeft()) > 0))];
      console.log(`   B while A is cancelled (first run started with the cancel): ${sec(firstB.total)} s (start answered in ${firstB.startAnswer.toFixed(0)} ms)`);
      let cancelDoneMs = 0;
      for (;;) {
        if ((await pendingLeft()) === 0) break;
        await sleep(100);
      }
      cancelDoneMs = Date.now() - cancelAt;
      await sleep(1500);
      // B alone once more: the machine is shared, and its load drifts during a run; the bound takes both.
      const aloneAfter = await phase('alone, after A', 3);
      const aGuids = new Set(accounts.map((a) => a.guid));
      const lastA = Math.max(...[...deliveries.lastAt].filter(([g]) => aGuids.has(g)).map(([, t]) => t));
      const aliveMs = Number(median([...alone, ...aloneAfter].map((r) => r.total)));
      const bound = 2 * aliveMs + 500;
      const worst = (runs: Array<{ total: number }>) => Math.max(...runs.map((r) => r.total));
      console.log(`   A cancelled with ${fmt(beforeCancel.total_count - beforeCancel.sent_count - beforeCancel.cancelled_count)} messages not yet sent: cancel answered in ${cancel.ms.toFixed(0)} ms (target < 1000); last delivery to A ${lastA > cancelAt ? `${lastA - cancelAt} ms after the cancel request` : 'before the cancel request'} (target < 1000); every pending message cancelled after ${sec(cancelDoneMs)} s`);
      console.log(`   B bound 2 × alone (median of before and after A) + 0.5 s = ${sec(bound)} s; worst: expansion ${sec(worst(expanding))} s, sending ${sec(worst(sending))} s, cancel ${sec(worst(cancelling))} s → ${[expanding, sending, cancelling].every((r) => worst(r) <= bound) ? 'within' : 'NOT within'} the bound`);
      const rss = await app.stop();
      rssLines.push(`all-roles process (noisy neighbour): ${mb(rss.maxRssKb)} MB`);
    }

    console.log(`\npeak RSS (target ≤ 512 MB each)`);
    for (const l of rssLines) console.log(`   ${l}`);
    console.log(`   bench process (the simulator with its delivery ledger${CASES.has('expand') ? ', the expand case' : ''}): ${mb(process.resourceUsage().maxRSS)} MB`);
    if (mysqlPid) console.log(`   private mariadbd (${BUFFER_POOL} buffer pool): ${mb(rssKbOf(mysqlPid))} MB`);
  } finally {
    await cleanup();
  }
}

/** Child `expand <task id>`: expands the task as the worker role would, prints `expanded <peak RSS, CPU>` and exits. */
async function runExpandChild(taskId: string): Promise<void> {
  const { loadConfig } = await import('../src/config');
  const { createAppContext } = await import('../src/context');
  const { expandTask } = await import('../src/sending/expand');
  const ctx = createAppContext(loadConfig());
  await expandTask(ctx, taskId);
  await ctx.close();
  const cpu = process.cpuUsage();
  process.stdout.write(`expanded ${JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS, cpuS: (cpu.user + cpu.system) / 1e6 })}\n`);
  process.exit(0);
}

/** Runs the task's expansion in its own process with the worker role's node flags; resolves with that process's peak RSS and CPU. */
function expandInWorkerProcess(taskId: string, env: Record<string, string>): Promise<{ maxRssKb: number; cpuS: number }> {
  const child = spawn(process.execPath, [...deployedNodeFlags('worker'), '--import', 'tsx', __filename, '--child', 'expand', taskId], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let result: { maxRssKb: number; cpuS: number } | null = null;
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (l.startsWith('expanded ')) result = JSON.parse(l.slice('expanded '.length));
    });
    child.on('error', reject);
    child.on('exit', (code) => (result ? resolve(result) : reject(new Error(`expansion process exited (${code})`))));
  });
}

const childMode = process.argv.includes('--child') ? process.argv[process.argv.indexOf('--child') + 1] : null;
// A child that fails says why and exits non-zero: its parent reports the exit.
const childFailed = (err: unknown) => {
  console.error(err);
  process.exit(1);
};
if (childMode === 'expand') runExpandChild(process.argv[process.argv.indexOf('--child') + 2]).catch(childFailed);
else if (childMode) runChild(childMode).catch(childFailed);
else
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
