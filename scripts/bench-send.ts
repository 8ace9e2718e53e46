/**
 * `npm run bench:send` — the sending pipeline against local MariaDB, Redis and the built-in simulator
 * (no added latency), each figure next to a bare baseline measured in the same run:
 *
 *  1. End-to-end: a 100,000-target task (CSV import, throttling off, every status persisted) run by a
 *     worker process, vs. a bare keep-alive HTTP loop sending the same 100,000 messages straight to the
 *     simulator from a process of its own at the same concurrency. Target: pipeline ≥ 0.5 × bare.
 *  2. Expansion of 100,000 targets vs. a bare multi-row INSERT of the same rows + BullMQ addBulk of one
 *     job per row. Target: ≤ 2 × bare.
 *  3. Throttle accuracy: 300 accounts, each limited by the simulator to 120/min, for 30 s. Target: zero
 *     rate-limited answers and ≥ 95% of the configured aggregate rate.
 *  4. Peak RSS of each process (worker at 10k and 100k targets, the bare sender, this process which
 *     hosts the simulator). Target: ≤ 512 MB and not growing with task size.
 *
 * Env: BENCH_TARGETS (100000), BENCH_ACCOUNTS (4), BENCH_LANES (16 per account), BENCH_THROTTLE_ACCOUNTS
 * (300), BENCH_THROTTLE_SECONDS (30), BENCH_SIM_BURST (1), BENCH_CASES (1,2,3: which cases to run),
 * BENCH_WORKER_NODE_FLAGS (extra node flags for the worker process, e.g. `--max-old-space-size=160`),
 * plus the usual DB_* / REDIS_URL.
 */
import 'dotenv/config';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Queue } from 'bullmq';

const TARGETS = Number(process.env.BENCH_TARGETS ?? 100_000);
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 4);
const LANES = Number(process.env.BENCH_LANES ?? 16);
const THROTTLE_ACCOUNTS = Number(process.env.BENCH_THROTTLE_ACCOUNTS ?? 300);
const THROTTLE_SECONDS = Number(process.env.BENCH_THROTTLE_SECONDS ?? 30);
// Burst 1: the strict limiter (an arrival even 1 ms early is refused). The sender keeps it at zero
// rejections with its pacing margin (SEND_PACING_MARGIN_PCT) and one paced request in flight per account.
const SIM_BURST = Number(process.env.BENCH_SIM_BURST ?? 1);
/** Which cases to run, e.g. BENCH_CASES=1 or 3 (default all; case 4 reports what the others measured). */
const CASES = new Set((process.env.BENCH_CASES ?? '1,2,3').split(',').map((c) => c.trim()));

const mb = (kb: number) => Math.round(kb / 1024);

/** CPU seconds (user + system) a process used so far, from /proc (Linux); NaN where unavailable. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return Number.NaN;
  }
}

function pidOf(name: string): number | undefined {
  try {
    return Number(execFileSync('pidof', ['-s', name], { encoding: 'utf8' }).trim()) || undefined;
  } catch {
    return undefined;
  }
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
  const workers = [startTaskExpandWorker(ctx), startMessageSendWorker(ctx, { sender: { concurrency: LANES } })];
  process.stdout.write('ready\n');
  process.on('SIGTERM', () => {
    void (async () => {
      for (const w of workers) await w.close();
      await ctx.close();
      const g = (globalThis as { gc?: () => void }).gc;
      g?.();
      process.stdout.write(`${JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS, heapAfterGcMb: Math.round(process.memoryUsage().heapUsed / 1048576) })}\n`);
      process.exit(0);
    })();
  });
}

/** The baseline: the same gateway client, a bare loop of sends at `concurrency`, nothing persisted. */
async function runBareChild(): Promise<void> {
  const { HttpGatewayClient } = await import('../src/gateway/http-client');
  const { guids, total, concurrency, url } = JSON.parse(process.env.BENCH_BARE!) as { guids: string[]; total: number; concurrency: number; url: string };
  const client = new HttpGatewayClient({ url, apiKey: process.env.GATEWAY_API_KEY ?? 'simulator-key', timeoutMs: 10_000 });
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

function spawnChild(mode: 'worker' | 'bare', env: Record<string, string>): { child: ChildProcess; lines: AsyncIterator<string> } {
  // BENCH_WORKER_NODE_FLAGS (e.g. --max-old-space-size=160) bounds the worker's V8 heap.
  const flags = mode === 'worker' && process.env.BENCH_WORKER_NODE_FLAGS ? process.env.BENCH_WORKER_NODE_FLAGS.split(' ') : [];
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

  const sim = await startSimulator({ port: 0, callbackSecret: 'bench-callback-secret', autoLogin: false, limits: { maxInstances: 10_000, maxLedgerKeys: 2_000_000, maxPendingReceipts: 10 } });
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
    const r = createRedis(config.redis);
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${config.redis.prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== '0');
    r.disconnect();
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
        if (line.startsWith('{"maxRssKb"')) return JSON.parse(line) as { maxRssKb: number; heapAfterGcMb: number };
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
      const mysqlPid = pidOf('mariadbd') ?? pidOf('mysqld');
      const cpu0 = [cpuSeconds(worker.child.pid), cpuSeconds(process.pid), cpuSeconds(mysqlPid)];
      await applyTaskAction(ctx, tenantId, taskId, 'start');
      let expandedMs = 0;
      const done = await waitStatus(taskId, 'completed', () => (expandedMs = Date.now() - started));
      const ms = Date.now() - started;
      const cpu = [cpuSeconds(worker.child.pid), cpuSeconds(process.pid), cpuSeconds(mysqlPid)].map((c, i) => c - cpu0[i]);
      const rss = await stopWorker(worker);
      const persisted = Number((await ctx.db('messages').where({ batch_id: taskId, status: 'sent' }).count({ n: '*' }).first())!.n);
      const ledger = sim.control.ledger.summary();
      return { ms, expandedMs, rss: rss.maxRssKb, heap: rss.heapAfterGcMb, persisted, done, ledger, cpu };
    };
    let small: Awaited<ReturnType<typeof runPipeline>> | undefined;
    let big: typeof small;
    let bareRes: { ms: number; maxRssKb: number } | undefined;
    if (CASES.has('1')) {
      console.log(`\n1. end-to-end, ${fmt(TARGETS)} targets, ${ACCOUNTS} accounts × ${LANES} lanes = concurrency ${ACCOUNTS * LANES}, throttling off`);
      small = await runPipeline(Math.max(1, Math.floor(TARGETS / 10)));
      big = await runPipeline(TARGETS);
      const pipelineRate = (TARGETS * 1000) / big.ms;
      console.log(`   pipeline: ${fmt(big.ms)} ms → ${fmt(pipelineRate)} msg/s (start → completed: expansion, sends, ${fmt(big.persisted)} statuses persisted; expansion done after ${fmt(big.expandedMs)} ms)`);
      const cpuLine = (c: number) => `${c.toFixed(1)} s (${((c * 1000) / big!.ms * 100).toFixed(0)}% of a core)`;
      console.log(`   CPU during the run: worker ${cpuLine(big.cpu[0])}, bench process with simulator ${cpuLine(big.cpu[1])}, MariaDB ${cpuLine(big.cpu[2])}`);
      console.log(`   counters: total ${big.done.total_count}, sent ${big.done.sent_count}, success ${big.done.success_count}; ledger: ${big.ledger.unique_keys} delivered, ${big.ledger.duplicate_deliveries} duplicate deliveries`);
      fresh();
      const bare = spawnChild('bare', { ...childEnv, BENCH_BARE: JSON.stringify({ guids: accounts.map((a) => a.guid), total: TARGETS, concurrency: ACCOUNTS * LANES, url: sim.url }) });
      let bareLine = '';
      while (!bareLine.startsWith('{"ms"')) bareLine = (await bare.lines.next()).value as string;
      bareRes = JSON.parse(bareLine) as { ms: number; maxRssKb: number };
      const bareRate = (TARGETS * 1000) / bareRes.ms;
      console.log(`   bare loop: ${fmt(bareRes.ms)} ms → ${fmt(bareRate)} msg/s`);
      console.log(`   ratio pipeline / bare = ${(pipelineRate / bareRate).toFixed(2)} (target ≥ 0.5)`);
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
      const scratch = new Queue(`bench-bare-${tag}`, { connection: createRedis(config.redis, 'blocking') as never, prefix: config.redis.prefix });
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
    console.log(`   bare multi-row INSERT + addBulk: ${fmt(bareExpandMs)} ms`);
    console.log(`   ratio expansion / bare = ${(expandMs / bareExpandMs).toFixed(2)} (target ≤ 2)`);
    }

    // ---- 3. throttle accuracy ----
    let throttleRss: { maxRssKb: number } | undefined;
    if (CASES.has('3')) {
      console.log(`\n3. throttle: ${THROTTLE_ACCOUNTS} accounts × 120/min (simulator bucket burst ${SIM_BURST}), ${THROTTLE_SECONDS} s, pacing margin ${config.sending.pacingMarginPct}%`);
      fresh({ send_rate_per_minute: 120, send_burst: SIM_BURST });
      const tAccounts = await makeAccounts(THROTTLE_ACCOUNTS);
      const perAccount = Math.ceil(THROTTLE_SECONDS * 2 * 1.5) + 10;
      const tFile = await importFile(csvLines(THROTTLE_ACCOUNTS * perAccount, tAccounts.map((a) => a.id)));
      const tTask = await newTask(tAccounts.map((a) => a.id), tFile, 120);
      const worker = spawnChild('worker', childEnv);
      await worker.lines.next();
      await applyTaskAction(ctx, tenantId, tTask, 'start');
      while (sim.control.ledger.summary().total_deliveries === 0) await sleep(20);
      await sleep(2_000); // every account under way
      const rl0 = sim.control.counters.rate_limited;
      const d0 = sim.control.ledger.summary().total_deliveries;
      const s0 = Date.now();
      await sleep(THROTTLE_SECONDS * 1000);
      const d1 = sim.control.ledger.summary().total_deliveries;
      const elapsed = (Date.now() - s0) / 1000;
      const rl1 = sim.control.counters.rate_limited;
      const configured = THROTTLE_ACCOUNTS * 2;
      const rate = (d1 - d0) / elapsed;
      console.log(`   delivered ${fmt(d1 - d0)} in ${elapsed.toFixed(1)} s → ${rate.toFixed(1)} msg/s of ${configured} configured = ${((rate / configured) * 100).toFixed(1)}% (target ≥ 95%)`);
      console.log(`   rate-limited answers during the window: ${rl1 - rl0}, over the whole run: ${rl1} (target 0)`);
      await applyTaskAction(ctx, tenantId, tTask, 'cancel');
      throttleRss = await stopWorker(worker);
    }

    // ---- 4. RSS ----
    console.log(`\n4. peak RSS`);
    if (small && big && bareRes) {
      console.log(`   worker process, ${fmt(Math.floor(TARGETS / 10))}-target task: ${mb(small.rss)} MB (JS heap in use after GC at the end: ${small.heap} MB)`);
      console.log(`   worker process, ${fmt(TARGETS)}-target task: ${mb(big.rss)} MB (JS heap in use after GC at the end: ${big.heap} MB)`);
      console.log(`   bare sender process: ${mb(bareRes.maxRssKb)} MB`);
    }
    if (throttleRss) console.log(`   worker process, ${THROTTLE_ACCOUNTS}-account throttle run: ${mb(throttleRss.maxRssKb)} MB`);
    console.log(`   bench process (simulator with its ledger, expansion run, scheduling): ${mb(process.resourceUsage().maxRSS)} MB`);
    console.log(`   (target ≤ 512 MB each, not growing with task size)`);
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
