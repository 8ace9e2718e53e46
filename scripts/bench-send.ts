/**
 * `npm run bench:send` — the sending pipeline against local MariaDB, Redis and the built-in simulator
 * (no added latency), each figure next to a baseline measured in the same run, interleaved in rounds so
 * background load on the shared machine hits both alike; medians of the rounds are printed, and the
 * machine's load average before and after every case.
 *
 *  1. Unthrottled, end to end: a 100,000-target task (CSV import, throttling off, every status persisted)
 *     run by a worker process, vs. a bare keep-alive HTTP loop sending the same number of messages
 *     straight to the simulator from a process of its own at the same concurrency, in BENCH_ROUNDS
 *     rounds (pipeline, bare, pipeline, bare, …). Target: median pipeline / bare ≥ 0.8.
 *  2. Expansion of 100,000 targets vs. a bare multi-row INSERT of the same rows + BullMQ addBulk of one
 *     job per row. Target: ≤ 2 × bare.
 *  3. Paced: for each shape in BENCH_PACED (300 accounts × 120/min, 10,000 accounts × 3/min), one task
 *     over all the accounts, the simulator limiting each account to that rate with a token bucket of
 *     burst 1 (an arrival even 1 ms early is refused), measured for BENCH_PACED_SECONDS (60) once on the
 *     machine as it is ("quiet") and once while a child process spins on a core ("busy"). Prints the
 *     aggregate rate as deliveries in the window and as the mean gap between consecutive deliveries of
 *     each account (robust to all accounts sending in waves), the smallest gap seen (must be ≥ the
 *     interval), rate-limited answers, and the worker's CPU and memory per 1,000 paced accounts.
 *     Each shape and mode runs BENCH_ROUNDS rounds of the rules in BENCH_PACED_RULES interleaved on one
 *     task, a worker process each (`count`: pace from the gateway's counted_at; `answer`: from the
 *     previous answer, SEND_PACING_COUNTED_AT=ignore), and prints the medians and the per-round ratio.
 *     Targets: ≥ 98% quiet, ≥ 95% busy, 0 rate-limited.
 *  4. Peak RSS of each process. Target: ≤ 512 MB, and the worker at 100k targets ≤ 1.2 × at 10k.
 *
 * Env: BENCH_TARGETS (100000), BENCH_ACCOUNTS (4), BENCH_LANES (16 per account), BENCH_ROUNDS (3),
 * BENCH_PACED ("300x120,10000x3"), BENCH_PACED_SECONDS (60), BENCH_PACED_MODES ("quiet,busy"), BENCH_PACED_RULES ("count,answer"),
 * BENCH_PACED_VARIANTS (JSON: more names for BENCH_PACED_RULES, each a worker environment over the count rule),
 * BENCH_SIM_BURST (1), BENCH_CASES (1,2,3: which cases to run), BENCH_WORKER_NODE_FLAGS (node flags
 * for the worker process; by default docker-compose.yml's NODE_OPTIONS of the worker role, its heap limit), plus the usual DB_* / REDIS_URL.
 */
import { deleteRedisPrefix } from './lib/redis-prefix';
import 'dotenv/config';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpuSeconds, loadAverage, median, pidOfPort } from './lib/bench-figures';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import { taskCounts } from '../src/db/task-counters';
import { countRoundTrips, perThousand, type Counts } from './lib/round-trips';
import { deployedNodeFlags } from './lib/deployed-node-flags';

const TARGETS = Number(process.env.BENCH_TARGETS ?? 100_000);
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 4);
const LANES = Number(process.env.BENCH_LANES ?? 16);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
/** Paced shapes "accounts x rate-per-minute". */
const PACED = (process.env.BENCH_PACED ?? '300x120,10000x3').split(',').map((s) => {
  const [accounts, rate] = s.trim().split('x').map(Number);
  return { accounts, rate };
});
const PACED_SECONDS = Number(process.env.BENCH_PACED_SECONDS ?? 60);
const PACED_MODES = (process.env.BENCH_PACED_MODES ?? 'quiet,busy').split(',').map((m) => m.trim()) as Array<'quiet' | 'busy'>;
/** Paced rules compared in interleaved rounds: `count` (from the gateway's counted_at) and `answer` (from the previous answer). */
const PACED_RULES = (process.env.BENCH_PACED_RULES ?? 'count,answer').split(',').map((m) => m.trim());
/**
 * Further variants BENCH_PACED_RULES may name, each a worker environment on top of the count rule, e.g.
 * BENCH_PACED_VARIANTS='{"m0":{"SEND_PACING_MARGIN_PCT":"0"}}' with BENCH_PACED_RULES=count,m0: a change
 * measured against the count rule in the same interleaved rounds.
 */
const PACED_VARIANTS = JSON.parse(process.env.BENCH_PACED_VARIANTS ?? '{}') as Record<string, Record<string, string>>;
for (const r of PACED_RULES) if (r !== 'count' && r !== 'answer' && !PACED_VARIANTS[r]) throw new Error(`BENCH_PACED_RULES names ${r}, which BENCH_PACED_VARIANTS does not define`);
/** The worker environment of a rule or variant, and which pacing rule it runs. */
const variantEnv = (r: string): Record<string, string> => (r === 'answer' ? { SEND_PACING_COUNTED_AT: 'ignore' } : { SEND_PACING_COUNTED_AT: 'use', ...PACED_VARIANTS[r] });
const ruleOf = (r: string): 'count' | 'answer' => (variantEnv(r).SEND_PACING_COUNTED_AT === 'ignore' ? 'answer' : 'count');
// Burst 1: the strict limiter (an arrival even 1 ms early is refused).
const SIM_BURST = Number(process.env.BENCH_SIM_BURST ?? 1);
/** Which cases to run, e.g. BENCH_CASES=1 or 3 (default all; case 4 reports what the others measured). */
const CASES = new Set((process.env.BENCH_CASES ?? '1,2,3').split(',').map((c) => c.trim()));

const mb = (kb: number) => Math.round(kb / 1024);

const load = loadAverage;
/** A child spinning on one core for as long as it lives: the "busy machine" of the paced cases. */
function startCpuHog(): ChildProcess {
  // Spins, and exits when the bench is gone (a killed bench must not leave a core spinning).
  const spin = `const p = ${process.pid}; for (;;) { for (let i = 0; i < 5e7; i += 1); try { process.kill(p, 0); } catch { process.exit(0); } }`;
  return spawn(process.execPath, ['-e', spin], { stdio: 'ignore' });
}
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- child modes ---------------------------------------------------------------------------------

/** The real worker role (expand + send workers) on the bench database; prints its peak RSS on SIGTERM. */
async function runWorkerChild(): Promise<void> {
  const { loadConfig } = await import('../src/config');
  const { createAppContext } = await import('../src/context');
  const { startMessageSendWorker } = await import('../workers/message-send.worker');
  const { startTaskExpandWorker } = await import('../workers/task-expand.worker');
  const ctx = createAppContext(loadConfig());
  // Statements and Redis commands this process sends (client side: the servers are shared).
  const roundTrips = countRoundTrips(ctx.db);
  const workers = [startTaskExpandWorker(ctx), startMessageSendWorker(ctx, { sender: { concurrency: LANES } })];
  const { takePacedGaps, takePacingStats } = await import('../src/sending/pacing-stats');
  // Memory sampled every 100 ms (the peak of the JS heap, not only the RSS the kernel reports at exit),
  // with the knex pool's waiting queries at that moment: what grows with the number of accounts.
  const peak = { rss: 0, heapUsed: 0, external: 0, poolWaiting: 0 };
  const pool = (ctx.db.client as { pool?: { numPendingAcquires(): number } }).pool;
  const sample = setInterval(() => {
    const m = process.memoryUsage();
    peak.rss = Math.max(peak.rss, m.rss);
    peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
    peak.external = Math.max(peak.external, m.external);
    peak.poolWaiting = Math.max(peak.poolWaiting, pool?.numPendingAcquires() ?? 0);
  }, 100);
  sample.unref();
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  // SIGUSR2: the pacing lateness and event-loop delay since the last SIGUSR2, as one line.
  process.on('SIGUSR2', () => {
    const loop = { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
    loopDelay.reset();
    process.stdout.write(`${JSON.stringify({ pacing: takePacingStats(), gaps: takePacedGaps(), loop })}\n`);
  });
  process.stdout.write('ready\n');
  process.on('SIGTERM', () => {
    void (async () => {
      for (const w of workers) await w.close();
      await ctx.close();
      const g = (globalThis as { gc?: () => void }).gc;
      g?.();
      const toMb = (b: number) => Math.round(b / 1048576);
      process.stdout.write(
        `${JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS, heapAfterGcMb: toMb(process.memoryUsage().heapUsed), peakHeapMb: toMb(peak.heapUsed), peakExternalMb: toMb(peak.external), peakPoolWaiting: peak.poolWaiting, roundTrips: roundTrips() })}\n`,
      );
      process.exit(0);
    })();
  });
}

/** The baseline: the same gateway client, a bare loop of sends at `concurrency`, nothing persisted. */
async function runBareChild(): Promise<void> {
  const { HttpGatewayClient } = await import('../src/gateway/http-client');
  const { guids, total, concurrency, url, batched } = JSON.parse(process.env.BENCH_BARE!) as { guids: string[]; total: number; concurrency: number; url: string; batched: boolean };
  const client = new HttpGatewayClient({ url, apiKey: process.env.GATEWAY_API_KEY ?? 'simulator-key', timeoutMs: 10_000, batchSends: batched });
  let next = 0;
  const started = Date.now();
  const lane = async () => {
    while (next < total) {
      const i = next++;
      await client.sendMessage({ guid: guids[i % guids.length], conversationId: `conv-${i}`, content: { type: 'text', text: 'hello' }, idempotencyKey: `bare-${i}` });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  const ms = Date.now() - started;
  await client.close();
  process.stdout.write(`${JSON.stringify({ ms, maxRssKb: process.resourceUsage().maxRSS })}\n`);
  process.exit(0);
}

// --- parent ----------------------------------------------------------------------------------------

/** The worker child's node flags: BENCH_WORKER_NODE_FLAGS if set (empty for V8's default), else the deployment's. */
function workerNodeFlags(): string[] {
  const given = process.env.BENCH_WORKER_NODE_FLAGS;
  return given === undefined ? deployedNodeFlags('worker') : given.split(' ').filter(Boolean);
}

function spawnChild(mode: 'worker' | 'bare', env: Record<string, string>): { child: ChildProcess; lines: AsyncIterator<string> } {
  // The worker runs with docker-compose.yml's heap limit for the worker role, or BENCH_WORKER_NODE_FLAGS.
  const flags = mode === 'worker' ? workerNodeFlags() : [];
  const child = spawn(process.execPath, [...flags, '--expose-gc', '--import', 'tsx', __filename, '--child', mode], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const queue: string[] = [];
  const waiters: Array<(s: string) => void> = [];
  let buf = '';
  child.stdout!.on('data', (d) => {
    buf += String(d);
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      // The child's warnings and errors (pino JSON on stdout) would be lost among the bench's lines.
      if (line.startsWith('{"level":') && Number(/^\{"level":(\d+)/.exec(line)?.[1]) >= 40) {
        process.stderr.write(`   [${mode}] ${line.slice(0, 400)}\n`);
        continue;
      }
      const w = waiters.shift();
      if (w) w(line);
      else queue.push(line);
    }
  });
  const lines: AsyncIterator<string> = {
    next: () => (queue.length ? Promise.resolve({ value: queue.shift()!, done: false }) : new Promise((r) => waiters.push((v) => r({ value: v, done: false })))),
  };
  return { child, lines };
}

async function main(): Promise<void> {
  const { loadConfig } = await import('../src/config');
  const { createAppContext } = await import('../src/context');
  const { dropDatabase, ensureDatabase } = await import('../src/db/knex');
  const { prepareDatabase } = await import('../src/db/migrator');
  const { insertTenant } = await import('../src/db/tenants');
  const { newId } = await import('../src/db/ids');
  const { insertTask } = await import('../src/db/tasks');
  const { insertMessagesIgnore } = await import('../src/db/messages');
  const { startSimulator } = await import('../src/gateway/simulator');
  const { applyTaskAction } = await import('../src/sending/task-control');
  const { expandTask } = await import('../src/sending/expand');
  const { createRedis } = await import('../src/redis');

  const sim = await startSimulator({ port: 0, callbackSecret: 'bench-callback-secret', autoLogin: false, limits: { maxInstances: 20_000, maxLedgerKeys: 2_000_000, maxPendingReceipts: 10 } });
  // Keeps instances (reset() would drop them): a clean ledger and counters with the given settings.
  const fresh = (settings: Record<string, number> = {}) => {
    sim.control.ledger.reset();
    sim.control.configure({ receipt_delay_ms: 3_600_000, send_rate_per_minute: 0, send_burst: 0, ...settings }); // no callbacks are wired here
    for (const k of Object.keys(sim.control.counters) as Array<keyof typeof sim.control.counters>) sim.control.counters[k] = 0;
  };
  fresh();
  const tag = randomBytes(4).toString('hex');
  const childEnv = {
    DB_NAME: `wwp_bench_send_${tag}`,
    REDIS_PREFIX: `{wwp-bench-send-${tag}}`,
    SIMULATOR_PORT: new URL(sim.url).port,
    LOG_LEVEL: 'warn',
    CRON_ENABLED: 'false',
    FILES_DIR: `/tmp/wwp-bench-send-${tag}`,
  };
  const config = loadConfig({ ...process.env, ...childEnv });
  await ensureDatabase(config.db);
  const ctx = createAppContext(config);
  await prepareDatabase(ctx.db, config.partitions.monthsAhead);
  const cleanup = async () => {
    await ctx.close();
    await dropDatabase(config.db);
    await deleteRedisPrefix(config.redis);
    await sim.close();
  };

  try {
    const { id: tenantId } = await ctx.db.transaction((trx) =>
      insertTenant(trx, { tenantCode: `bench${tag}`, tenantName: 'bench', maxAccounts: 100_000, maxDailyMessages: 100_000_000, timezone: 'UTC' }),
    );
    const creator = newId();
    const makeAccounts = async (n: number) => {
      const out: Array<{ id: string; guid: string }> = [];
      const rows = [];
      for (let i = 0; i < n; i += 1) {
        const { guid } = sim.control.createInstance(`bench-${i}`);
        await sim.control.startLogin(guid);
        sim.control.scan(guid);
        sim.control.confirm(guid);
        const id = newId();
        out.push({ id, guid });
        rows.push({ id, tenant_id: tenantId, account_name: `bench-${tag}-${out.length}-${randomBytes(3).toString('hex')}`, guid, status: 'online' });
      }
      for (let i = 0; i < rows.length; i += 500) await ctx.db('wework_accounts').insert(rows.slice(i, i + 500));
      return out;
    };
    const importFile = async (lines: string[]) => {
      const fileId = newId();
      const key = `tenants/${tenantId}/import/${fileId}.csv`;
      await ctx.storage.put(key, Readable.from(lines.map((l) => `${l}\n`)), { contentType: 'text/csv' });
      await ctx.db('files').insert({ id: fileId, tenant_id: tenantId, purpose: 'import', object_key: key, file_name: 'bench.csv', content_type: 'text/csv' });
      return fileId;
    };
    const newTask = async (accountIds: string[], fileId: string, rate: number, status: 'created' | 'paused' = 'created') => {
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
        send_strategy: { rate_per_minute: rate, jitter: 0, window: null, retry: { max_attempts: 3, backoff_ms: 1000, backoff: 'fixed' }, error_threshold: 0 },
        priority: 5,
        scheduled_time: null,
      });
      if (status === 'paused') await ctx.db('batch_send_tasks').where({ id }).update({ status: 'paused', start_time: new Date() });
      return id;
    };
    const csvLines = (n: number, accountIds?: string[]) => [
      accountIds ? 'conversation_id,name,account_id' : 'conversation_id,name',
      ...Array.from({ length: n }, (_, i) => (accountIds ? `c-${i},n${i},${accountIds[i % accountIds.length]}` : `c-${i},n${i}`)),
    ];
    /** Polls until the task reaches `status`; `onExpanded` is called once when its expansion is seen done. */
    const waitStatus = async (taskId: string, status: string, onExpanded?: () => void) => {
      for (;;) {
        const t = await ctx.db('batch_send_tasks').where({ id: taskId }).first();
        if (t.expansion_done && onExpanded) {
          onExpanded();
          onExpanded = undefined;
        }
        if (t.status === status) return t;
        if (t.status === 'failed' || t.status === 'paused') throw new Error(`task ${t.status}: ${t.error_message}`);
        await sleep(100);
      }
    };
    const stopWorker = async (w: { child: ChildProcess; lines: AsyncIterator<string> }) => {
      w.child.kill('SIGTERM');
      for (;;) {
        const line = (await w.lines.next()).value as string;
        if (line.startsWith('{"maxRssKb"')) return JSON.parse(line) as { maxRssKb: number; heapAfterGcMb: number; peakHeapMb: number; peakExternalMb: number; peakPoolWaiting: number; roundTrips: { sql: Counts; redis: Counts } };
      }
    };
    /** Round trips of a whole paced run per account (start-up and every send of the run). */
    const perAccountStart = (c: Counts, accounts: number) =>
      Object.entries(c)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 12)
        .map(([k, n]) => `${k} ${(n / accounts).toFixed(2)}`)
        .join(', ') + ' per account';
    type Pct = { n: number; p50: number; p99: number; max: number };
    /** The worker's pacing lateness and event-loop delay since the previous call (SIGUSR2). */
    const pacingSnapshot = async (w: { child: ChildProcess; lines: AsyncIterator<string> }) => {
      w.child.kill('SIGUSR2');
      for (;;) {
        const line = (await w.lines.next()).value as string;
        if (line.startsWith('{"pacing"')) return JSON.parse(line) as { pacing: Record<'slot' | 'rule' | 'wake' | 'answer', Pct>; gaps: import('../src/sending/pacing-stats').PacedGapSums; loop: Omit<Pct, 'n'> };
      }
    };

    const accounts = await makeAccounts(ACCOUNTS);
    const accountIds = accounts.map((a) => a.id);

    // ---- 1. end to end vs bare loop (with RSS of the worker at two task sizes) ----
    const runPipeline = async (n: number) => {
      fresh();
      const fileId = await importFile(csvLines(n));
      const taskId = await newTask(accountIds, fileId, 0);
      const worker = spawnChild('worker', childEnv);
      await worker.lines.next();
      const started = Date.now();
      const mysqlPid = pidOfPort(config.db.port);
      const redisPid = pidOfPort(Number(new URL(config.redis.url).port || 6379));
      const cpu0 = [cpuSeconds(worker.child.pid), cpuSeconds(process.pid), cpuSeconds(mysqlPid), cpuSeconds(redisPid)];
      await applyTaskAction(ctx, tenantId, taskId, 'start');
      let expandedMs = 0;
      const done = await waitStatus(taskId, 'completed', () => (expandedMs = Date.now() - started));
      const ms = Date.now() - started;
      const cpu = [cpuSeconds(worker.child.pid), cpuSeconds(process.pid), cpuSeconds(mysqlPid), cpuSeconds(redisPid)].map((c, i) => c - cpu0[i]);
      const rss = await stopWorker(worker);
      const persisted = Number((await ctx.db('messages').where({ batch_id: taskId, status: 'sent' }).count({ n: '*' }).first())!.n);
      const ledger = sim.control.ledger.summary();
      // The counters live in task_counters (sharded), not on the task row.
      const counts = await taskCounts(ctx.db, taskId);
      return { ms, expandedMs, rss: rss.maxRssKb, heap: rss.heapAfterGcMb, peakHeap: rss.peakHeapMb, peakExternal: rss.peakExternalMb, persisted, done, counts, ledger, cpu, roundTrips: rss.roundTrips };
    };
    /** A bare loop of `total` sends from a process of its own; `batched`: with the client's batch sends, as the pipeline's. */
    const runBare = async (total: number, batched = false) => {
      fresh();
      const bare = spawnChild('bare', { ...childEnv, BENCH_BARE: JSON.stringify({ guids: accounts.map((a) => a.guid), total, concurrency: ACCOUNTS * LANES, url: sim.url, batched }) });
      let line = '';
      while (!line.startsWith('{"ms"')) line = (await bare.lines.next()).value as string;
      return JSON.parse(line) as { ms: number; maxRssKb: number };
    };
    let small: Awaited<ReturnType<typeof runPipeline>> | undefined;
    const bigs: Array<NonNullable<typeof small>> = [];
    const bares: Array<{ ms: number; maxRssKb: number }> = [];
    console.log(`worker process node flags: ${workerNodeFlags().join(' ') || '(none: V8 defaults)'}${process.env.BENCH_WORKER_NODE_FLAGS === undefined ? " (docker-compose.yml's worker role)" : ' (BENCH_WORKER_NODE_FLAGS)'}`);
    if (CASES.has('1')) {
      console.log(`\n1. unthrottled end to end, ${fmt(TARGETS)} targets, ${ACCOUNTS} accounts × ${LANES} lanes = concurrency ${ACCOUNTS * LANES}, ${ROUNDS} interleaved rounds`);
      console.log(`   before: ${load()}`);
      small = await runPipeline(Math.max(1, Math.floor(TARGETS / 10)));
      const ratios: number[] = [];
      // With batch sends on (GATEWAY_BATCH_SENDS), a bare loop with the same batching too: the pipeline's
      // own cost against a baseline that saves the same HTTP requests.
      const batchedRatios: number[] = [];
      const batchedBares: number[] = [];
      for (let round = 1; round <= ROUNDS; round += 1) {
        const big = await runPipeline(TARGETS);
        const bare = await runBare(TARGETS);
        const bareBatched = config.gateway.batchSends ? await runBare(TARGETS, true) : undefined;
        bigs.push(big);
        bares.push(bare);
        const pRate = (TARGETS * 1000) / big.ms;
        const bRate = (TARGETS * 1000) / bare.ms;
        ratios.push(pRate / bRate);
        if (bareBatched) {
          batchedBares.push((TARGETS * 1000) / bareBatched.ms);
          batchedRatios.push(pRate / batchedBares[batchedBares.length - 1]);
          console.log(`   round ${round}: bare loop with batch sends ${fmt(batchedBares[batchedBares.length - 1])} msg/s; pipeline / it ${batchedRatios[batchedRatios.length - 1].toFixed(2)}`);
        }
        const cpuLine = (c: number) => `${c.toFixed(1)} s (${(((c * 1000) / big.ms) * 100).toFixed(0)}%)`;
        console.log(
          `   round ${round}: pipeline ${fmt(pRate)} msg/s (${fmt(big.ms)} ms, expansion done after ${fmt(big.expandedMs)} ms), bare ${fmt(bRate)} msg/s, ratio ${(pRate / bRate).toFixed(2)}; ` +
            `CPU worker ${cpuLine(big.cpu[0])}, bench+simulator ${cpuLine(big.cpu[1])}, MariaDB ${cpuLine(big.cpu[2])}, Redis ${cpuLine(big.cpu[3])}; ` +
            `per message: worker ${((big.cpu[0] * 1e6) / TARGETS).toFixed(0)} µs, MariaDB ${((big.cpu[2] * 1e6) / TARGETS).toFixed(0)} µs, Redis ${((big.cpu[3] * 1e6) / TARGETS).toFixed(0)} µs`,
        );
        console.log(
          `            counters: total ${big.done.total_count}, sent ${big.counts.sent}, success ${big.counts.success}, persisted sent ${fmt(big.persisted)}; ledger: ${big.ledger.unique_keys} delivered, ${big.ledger.duplicate_deliveries} duplicate deliveries`,
        );
        console.log(`            worker's MariaDB statements: ${perThousand(big.roundTrips.sql, TARGETS)}`);
        console.log(`            worker's Redis commands: ${perThousand(big.roundTrips.redis, TARGETS)}`);
      }
      const pMed = median(bigs.map((b) => (TARGETS * 1000) / b.ms));
      const bMed = median(bares.map((b) => (TARGETS * 1000) / b.ms));
      console.log(`   pipeline ${config.gateway.batchSends ? 'with' : 'without'} batch sends (GATEWAY_BATCH_SENDS); bare: one request per send`);
      console.log(`   median: pipeline ${fmt(pMed)} msg/s, bare ${fmt(bMed)} msg/s; median ratio pipeline / bare = ${median(ratios).toFixed(2)} (target ≥ 0.8)`);
      if (batchedRatios.length) console.log(`   median: bare with batch sends ${fmt(median(batchedBares))} msg/s; median ratio pipeline / bare with batch sends = ${median(batchedRatios).toFixed(2)}`);
      console.log(`   after: ${load()}`);
    }

    // ---- 2. expansion vs bare insert + addBulk ----
    if (CASES.has('2')) {
      console.log(`\n2. expansion of ${fmt(TARGETS)} targets`);
      const expFile = await importFile(csvLines(TARGETS));
      const expTask = await newTask(accountIds, expFile, 0, 'paused');
      let t0 = Date.now();
      const outcome = await expandTask(ctx, expTask);
      const expandMs = Date.now() - t0;
      const expanded = await ctx.db('batch_send_tasks').where({ id: expTask }).first();
      console.log(`   expandTask: ${fmt(expandMs)} ms (${outcome}, total_count ${expanded.total_count}; stream-parse CSV, render, 1000-row INSERT IGNORE + cursor per chunk)`);
      // A connection handed to BullMQ stays open after close(): quit below.
      const scratchRedis = createRedis(config.redis, 'blocking');
      const scratch = new Queue(`bench-bare-${tag}`, { connection: scratchRedis as never, prefix: config.redis.prefix });
      const bareBatch = newId();
      const at = new Date();
      t0 = Date.now();
      for (let i = 0; i < TARGETS; i += 1000) {
        const rows = [];
        for (let j = i; j < Math.min(TARGETS, i + 1000); j += 1) {
          rows.push({
            id: newId(),
            tenant_id: tenantId,
            account_id: accountIds[j % accountIds.length],
            conversation_id: `c-${j}`,
            message_type: 'text',
            content: JSON.stringify({ type: 'text', text: `Hello n${j}` }),
            template_id: null,
            batch_id: bareBatch,
            priority: 5,
            scheduled_time: null,
            created_at: at,
          });
        }
        await insertMessagesIgnore(ctx.db, rows);
        await scratch.addBulk(rows.map((r) => ({ name: 'send', data: { messageId: r.id }, opts: { removeOnComplete: true } })));
    }
    const bareExpandMs = Date.now() - t0;
    await scratch.obliterate({ force: true });
    await scratch.close();
    await scratchRedis.quit();
    console.log(`   bare multi-row INSERT + addBulk: ${fmt(bareExpandMs)} ms`);
    console.log(`   ratio expansion / bare = ${(expandMs / bareExpandMs).toFixed(2)} (target ≤ 2)`);
    }

    // ---- 3. paced ----
    const pacedRss: string[] = [];
    if (CASES.has('3')) {
      // Arrival times of accepted sends per instance, recorded inside the simulator while a window is open.
      let recording: Map<string, number[]> | null = null;
      const engine = sim.control as unknown as { send: (guid: string, req: unknown) => unknown };
      const send = engine.send.bind(engine);
      engine.send = (guid, req) => {
        const out = send(guid, req);
        if (recording && !(out as { duplicate?: boolean }).duplicate) {
          const at = Date.now();
          const list = recording.get(guid);
          if (list) list.push(at);
          else recording.set(guid, [at]);
        }
        return out;
      };
      const { kickAccounts } = await import('../src/sending/kicks');
      for (const shape of PACED) {
        const intervalMs = 60_000 / shape.rate;
        const configured = (shape.accounts * shape.rate) / 60;
        const pAccounts = await makeAccounts(shape.accounts);
        const ids = pAccounts.map((a) => a.id);
        const pct = (r: number) => `${((r / configured) * 100).toFixed(1)}%`;
        for (const mode of PACED_MODES) {
          console.log(
            `\n3. paced, ${mode}: ${fmt(shape.accounts)} accounts × ${shape.rate}/min = ${fmt(configured)} msg/s configured, simulator bucket burst ${SIM_BURST}, ${PACED_SECONDS} s window, pacing margin ${config.sending.pacingMarginPct}%, ` +
              `${ROUNDS} round(s) of ${PACED_RULES.map((r) => `${r} (${JSON.stringify(variantEnv(r))})`).join(' / ')}, one worker process each`,
          );
          console.log(`   before: ${load()}`);
          fresh({ send_rate_per_minute: shape.rate, send_burst: SIM_BURST });
          // Enough for every round's warm-up + window + slack per account.
          const perAccount = Math.ceil((((PACED_SECONDS + 30) * ROUNDS * PACED_RULES.length * shape.rate) / 60) * 1.2) + 2;
          const file = await importFile(csvLines(shape.accounts * perAccount, ids));
          const taskId = await newTask(ids, file, shape.rate);
          const hog = mode === 'busy' ? startCpuHog() : null;
          const rates: Record<string, number[]> = {};
          const ratios: Record<string, number[]> = {};
          try {
            for (let round = 1; round <= ROUNDS; round += 1) {
              const roundRate: Record<string, number> = {};
              for (const rule of PACED_RULES) {
                const first = round === 1 && rule === PACED_RULES[0];
                // Arrivals per account from the worker's start on: the warm-up ends when every account sent.
                recording = new Map();
                const worker = spawnChild('worker', { ...childEnv, ...variantEnv(rule) });
                await worker.lines.next();
                const t0 = Date.now();
                let expandedMs = 0;
                if (first) {
                  await applyTaskAction(ctx, tenantId, taskId, 'start');
                  // The expansion is done (pacing is measured, not expansion).
                  await waitStatus(taskId, 'running', () => (expandedMs = Date.now() - t0));
                  while (!expandedMs) {
                    if ((await ctx.db('batch_send_tasks').where({ id: taskId }).first()).expansion_done) expandedMs = Date.now() - t0;
                    else await sleep(200);
                  }
                } else {
                  // The previous worker gave its leases back on SIGTERM: kick the accounts at this one.
                  await kickAccounts(ctx, ids);
                }
                while (recording.size < shape.accounts && Date.now() - t0 < expandedMs + 60_000) await sleep(100);
                const warmMs = Date.now() - t0;
                const warmed = recording.size;
                await sleep(2_000);
                const mysqlPid = pidOfPort(config.db.port);
                const redisPid = pidOfPort(Number(new URL(config.redis.url).port || 6379));
                const pids = [worker.child.pid, process.pid, mysqlPid, redisPid];
                const cpu0 = pids.map(cpuSeconds);
                const rl0 = sim.control.counters.rate_limited;
                const d0 = sim.control.ledger.summary().total_deliveries;
                const loadBefore = load();
                await pacingSnapshot(worker);
                recording = new Map();
                const s0 = Date.now();
                await sleep(PACED_SECONDS * 1000);
                const lateness = await pacingSnapshot(worker);
                const arrivals = recording;
                recording = null;
                const elapsed = (Date.now() - s0) / 1000;
                const d1 = sim.control.ledger.summary().total_deliveries;
                const rl1 = sim.control.counters.rate_limited;
                const cpu = pids.map(cpuSeconds).map((c, i) => c - cpu0[i]);
                // Gap view: Σ over accounts of (n − 1) / (last − first), and the smallest gap of any account.
                let gapRate = 0;
                let minGap = Number.POSITIVE_INFINITY;
                let silent = shape.accounts - arrivals.size;
                // Each account's mean gap between arrivals, and how many of its gaps were over 1.5 intervals (stalls).
                const meanGaps: number[] = [];
                let gaps = 0;
                let longGaps = 0;
                for (const list of arrivals.values()) {
                  if (list.length < 2) {
                    silent += 1;
                    continue;
                  }
                  gapRate += ((list.length - 1) * 1000) / (list[list.length - 1] - list[0]);
                  meanGaps.push((list[list.length - 1] - list[0]) / (list.length - 1));
                  for (let i = 1; i < list.length; i += 1) {
                    const gap = list[i] - list[i - 1];
                    minGap = Math.min(minGap, gap);
                    gaps += 1;
                    if (gap > 1.5 * intervalMs) longGaps += 1;
                  }
                }
                meanGaps.sort((a, b) => a - b);
                const q = (f: number) => (meanGaps.length ? meanGaps[Math.min(meanGaps.length - 1, Math.floor(f * meanGaps.length))] : 0);
                const countRate = (d1 - d0) / elapsed;
                (rates[rule] ??= []).push(countRate);
                roundRate[rule] = countRate;
                console.log(`   round ${round}, ${rule} rule: ${loadBefore}; ${first ? `expansion of ${fmt(shape.accounts * perAccount)} messages done after ${fmt(expandedMs)} ms, ` : ''}${fmt(warmed)} accounts' first sends by ${fmt(warmMs)} ms`);
                console.log(
                  `     delivered ${fmt(d1 - d0)} in ${elapsed.toFixed(1)} s → ${countRate.toFixed(1)} msg/s = ${pct(countRate)} of configured; by per-account gaps ${gapRate.toFixed(1)} msg/s = ${pct(gapRate)} ` +
                    `(target ≥ ${mode === 'quiet' ? 98 : 95}%; accounts with < 2 sends in the window: ${silent})`,
                );
                console.log(`     smallest gap between two sends of one account: ${minGap} ms (interval ${intervalMs} ms; lower bound); rate-limited answers in the window: ${rl1 - rl0}, over the whole run: ${rl1} (target 0)`);
                console.log(
                  `     per account, mean gap between arrivals: min ${q(0).toFixed(1)} / p50 ${q(0.5).toFixed(1)} / p90 ${q(0.9).toFixed(1)} / max ${q(1).toFixed(1)} ms (interval ${intervalMs} ms); ` +
                    `gaps over 1.5 intervals: ${fmt(longGaps)} of ${fmt(gaps)}`,
                );
                const g = lateness.gaps;
                const part = (x: number) => `${x.toFixed(2)} ms (${((x / intervalMs) * 100).toFixed(2)}%)`;
                console.log(
                  `     worker, mean gap between paced dispatches of an account (${fmt(g.n)} gaps): ${part(g.gap)} = margined interval ${part(g.interval)} + ${ruleOf(rule)} rule push ${part(g.count)} + ` +
                    `slot push (claims, back-offs) ${part(g.slot)} + wake-up ${part(g.wake)}`,
                );
                const ms = (x: Pct | Omit<Pct, 'n'>) => `p50 ${x.p50.toFixed(1)} / p99 ${x.p99.toFixed(1)} / max ${x.max.toFixed(0)} ms`;
                const lp = lateness.pacing;
                console.log(
                  `     lateness of ${fmt(lp.slot.n)} paced sends vs their GCRA slot: ${ms(lp.slot)}; of which ${ruleOf(rule)} rule (previous send ${ruleOf(rule) === 'count' ? 'counted at the gateway' : 'answered'} + interval, past the slot) ${ms(lp.rule)}, ` +
                    `wake-up (timer and event loop) ${ms(lp.wake)}; send round trip ${ms(lp.answer)}; worker event-loop delay ${ms(lateness.loop)}`,
                );
                const per1k = (c: number) => `${(((c / elapsed) * 100) / (shape.accounts / 1000)).toFixed(1)}% of a core`;
                console.log(
                  `     CPU in the window: worker ${cpu[0].toFixed(1)} s (${per1k(cpu[0])} per 1,000 accounts), bench+simulator ${cpu[1].toFixed(1)} s, MariaDB ${cpu[2].toFixed(1)} s, Redis ${cpu[3].toFixed(1)} s`,
                );
                const stopAt = Date.now();
                const rss = await stopWorker(worker);
                const stopMs = Date.now() - stopAt;
                console.log(`     worker's MariaDB statements in the run: ${perAccountStart(rss.roundTrips.sql, shape.accounts)}`);
                console.log(`     worker's Redis commands in the run: ${perAccountStart(rss.roundTrips.redis, shape.accounts)}`);
                console.log(`     worker shutdown (SIGTERM to exit, ${fmt(shape.accounts)} account runs): ${fmt(stopMs)} ms`);
                const line =
                  `worker process, ${fmt(shape.accounts)} accounts × ${shape.rate}/min (${mode}, ${rule} rule, round ${round}): ${mb(rss.maxRssKb)} MB peak RSS = ${((mb(rss.maxRssKb) / shape.accounts) * 1000).toFixed(1)} MB per 1,000 paced accounts; ` +
                  `peak JS heap ${rss.peakHeapMb} MB, external ${rss.peakExternalMb} MB, JS heap after GC at the end ${rss.heapAfterGcMb} MB, most queries waiting for a pool connection ${rss.peakPoolWaiting}`;
                pacedRss.push(line);
                console.log(`     ${line}`);
              }
              // Each other rule or variant against the first, per round.
              for (const r of PACED_RULES.slice(1)) if (roundRate[r] && roundRate[PACED_RULES[0]]) (ratios[r] ??= []).push(roundRate[r] / roundRate[PACED_RULES[0]]);
            }
            await applyTaskAction(ctx, tenantId, taskId, 'cancel');
          } finally {
            hog?.kill('SIGKILL');
          }
          for (const rule of PACED_RULES) console.log(`   median of ${rates[rule].length} round(s), ${rule} rule: ${median(rates[rule]).toFixed(1)} msg/s = ${pct(median(rates[rule]))} of configured`);
          for (const [r, list] of Object.entries(ratios)) console.log(`   ${r} / ${PACED_RULES[0]}, per round: ${list.map((x) => x.toFixed(3)).join(', ')}; median ${median(list).toFixed(3)}`);
          console.log(`   after: ${load()}`);
        }
      }
    }

    // ---- 4. RSS ----
    console.log(`\n4. peak RSS`);
    if (small && bigs.length) {
      const bigRss = Math.max(...bigs.map((b) => b.rss));
      console.log(`   worker process, ${fmt(Math.floor(TARGETS / 10))}-target task: ${mb(small.rss)} MB (peak JS heap ${small.peakHeap} MB, external ${small.peakExternal} MB; JS heap in use after GC at the end: ${small.heap} MB)`);
      console.log(
        `   worker process, ${fmt(TARGETS)}-target task (max of ${bigs.length}): ${mb(bigRss)} MB = ${(bigRss / small.rss).toFixed(2)} × the 10× smaller task (target ≤ 1.2); ` +
          `peak JS heap ${Math.max(...bigs.map((b) => b.peakHeap))} MB, external ${Math.max(...bigs.map((b) => b.peakExternal))} MB, JS heap after GC at the end ${Math.max(...bigs.map((b) => b.heap))} MB`,
      );
      console.log(`   bare sender process: ${mb(Math.max(...bares.map((b) => b.maxRssKb)))} MB`);
    }
    for (const line of pacedRss) console.log(`   ${line}`);
    console.log(`   bench process (simulator with its ledger, expansion run, scheduling): ${mb(process.resourceUsage().maxRSS)} MB`);
    console.log(`   (target ≤ 512 MB each)`);
  } finally {
    await cleanup();
  }
}

const childMode = process.argv.includes('--child') ? process.argv[process.argv.indexOf('--child') + 1] : null;
if (childMode === 'worker') void runWorkerChild();
else if (childMode === 'bare') void runBareChild();
else
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
