/**
 * `npm run bench:webhooks` — tenant webhook delivery throughput, and a campaign's events delivered once.
 *
 * A receiver runs as a child process (keep-alive HTTP on loopback; it counts requests, webhook-ids and
 * events). This process runs the real pipeline (outbox → dispatcher → delivery rows → delivery pump →
 * signed POST) against its own throw-away database and Redis prefix, and the baseline: a bare keep-alive
 * POST loop (one request in flight, no signing, no database) to the same receiver. Rounds alternate
 * baseline / pipeline so background load hits both alike. Prints per-round deliveries/s, the medians and
 * their ratio (target ≥ 0.5).
 *
 * Then a campaign: BENCH_CAMPAIGN_EVENTS (100,000) message.sent events published through
 * publishWebhookEvents (as the status writer does, 1,000 per transaction) to an endpoint batching 100
 * per request; checks every event arrived once and no webhook-id twice.
 *
 * Env: BENCH_ROUNDS (3), BENCH_ROUND_DELIVERIES (2000), BENCH_CAMPAIGN_EVENTS (100000), WEBHOOK_CONCURRENCY (32).
 */
import 'dotenv/config';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { loadAverage, median } from './lib/bench-figures';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ROUND_DELIVERIES = Number(process.env.BENCH_ROUND_DELIVERIES ?? 2000);
const CAMPAIGN_EVENTS = Number(process.env.BENCH_CAMPAIGN_EVENTS ?? 100_000);

// --- receiver child ------------------------------------------------------------------------------

function runReceiver(): void {
  const ids = new Set<string>();
  const events = new Set<string>();
  let requests = 0;
  let duplicateIds = 0;
  let duplicateEvents = 0;
  const server = http.createServer((req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ requests, ids: ids.size, events: events.size, duplicateIds, duplicateEvents }));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      const id = req.headers['webhook-id'];
      if (typeof id === 'string') {
        if (ids.has(id)) duplicateIds++;
        ids.add(id);
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { type: string; data: { message_id?: string; events?: Array<{ data: { message_id: string } }> } };
        const list = body.type === 'batch' ? body.data.events!.map((e) => e.data.message_id) : [body.data.message_id!];
        for (const m of list) {
          if (events.has(m)) duplicateEvents++;
          events.add(m);
        }
      }
      res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}` })}\n`);
  });
}

function startReceiverChild(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', __filename, '--receiver'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      const line = buf.split('\n').find((l) => l.startsWith('{"url"'));
      if (line) resolve({ child, url: JSON.parse(line).url as string });
    });
    child.once('exit', (code) => reject(new Error(`receiver exited early with ${code}`)));
  });
}

// --- driver --------------------------------------------------------------------------------------

interface Stats {
  requests: number;
  ids: number;
  events: number;
  duplicateIds: number;
  duplicateEvents: number;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function post(url: string, body: string, method = 'POST'): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: method === 'POST' ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? body : undefined);
  });
}

const stats = async (url: string): Promise<Stats> => JSON.parse(await post(url, '', 'GET')) as Stats;

async function waitForStats(url: string, until: (s: Stats) => boolean, timeoutMs: number): Promise<Stats> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await stats(url);
    if (until(s)) return s;
    if (Date.now() > deadline) throw new Error(`receiver stats stuck at ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function main(): Promise<void> {
  const { loadConfig } = await import('../src/config');
  const { createAppContext } = await import('../src/context');
  const { ensureDatabase, dropDatabase } = await import('../src/db/knex');
  const { prepareDatabase } = await import('../src/db/migrator');
  const { insertEndpoint, updateEndpoint } = await import('../src/db/webhook-endpoints');
  const { insertTenant } = await import('../src/db/tenants');
  const { publishWebhookEvents } = await import('../src/webhooks/publish');
  const { generateWebhookSecret } = await import('../src/webhooks/signing');
  const { startWebhookDeliverWorker } = await import('../workers/webhook-deliver.worker');
  const { deleteRedisPrefix } = await import('./lib/redis-prefix');

  const tag = randomBytes(3).toString('hex');
  const config = loadConfig({
    ...process.env,
    NODE_ENV: 'development',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    DB_NAME: `wwp_bench_wh_${tag}`,
    REDIS_PREFIX: `{wwp-bench-wh-${tag}}`,
    WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32',
  });
  await ensureDatabase(config.db);
  const ctx = createAppContext(config);
  const receiver = await startReceiverChild();
  try {
    await prepareDatabase(ctx.db, config.partitions.monthsAhead);
    const worker = startWebhookDeliverWorker(ctx, { idleMs: 20 });
    const { id: tenantId } = await ctx.db.transaction((trx) => insertTenant(trx, { tenantCode: `bench${tag}`, tenantName: 'bench' }));
    const keyRing = config.channels.keyRing;
    const single = await insertEndpoint(ctx.db, keyRing, { tenantId, name: 'single', url: `${receiver.url}/single`, eventTypes: ['message.sent'], active: true, batchMax: 1, secret: generateWebhookSecret(), createdBy: null });

    let seq = 0;
    const publish = async (n: number, perTrx: number) => {
      for (let i = 0; i < n; i += perTrx) {
        const events = Array.from({ length: Math.min(perTrx, n - i) }, () => ({ type: 'message.sent' as const, data: { message_id: `m${++seq}`, task_id: 'bench', gateway_message_id: `g${seq}`, at: new Date().toISOString() } }));
        await ctx.db.transaction((trx) => publishWebhookEvents(trx, tenantId, events));
      }
    };
    const sampleBody = JSON.stringify({ type: 'message.sent', timestamp: new Date().toISOString(), data: { message_id: 'm0', task_id: 'bench', gateway_message_id: 'g0', at: new Date().toISOString() } });

    console.log(`[bench:webhooks] ${loadAverage()}; ${ROUNDS} rounds of ${ROUND_DELIVERIES} deliveries; worker concurrency ${config.webhooks.concurrency}`);
    const base: number[] = [];
    const ours: number[] = [];
    // Load-independent cost: statements sent to MySQL and this process's CPU time per delivery.
    let statements = 0;
    ctx.db.on('query', () => statements++);
    const cpuMs = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    const baseCpu: number[] = [];
    const ourCpu: number[] = [];
    const ourStatements: number[] = [];
    await publish(200, 200); // warm-up: connections, prepared paths, JIT
    await waitForStats(receiver.url, (s) => s.requests >= 200, 60_000);
    for (let r = 1; r <= ROUNDS; r++) {
      let t0 = performance.now();
      let c0 = cpuMs();
      for (let i = 0; i < ROUND_DELIVERIES; i++) await post(`${receiver.url}/bare`, sampleBody);
      base.push(ROUND_DELIVERIES / ((performance.now() - t0) / 1000));
      baseCpu.push(((cpuMs() - c0) * 1000) / ROUND_DELIVERIES);
      const before = await stats(receiver.url);
      const s0 = statements;
      t0 = performance.now();
      c0 = cpuMs();
      await publish(ROUND_DELIVERIES, 500);
      await waitForStats(receiver.url, (s) => s.ids >= before.ids + ROUND_DELIVERIES, 300_000);
      ours.push(ROUND_DELIVERIES / ((performance.now() - t0) / 1000));
      ourCpu.push(((cpuMs() - c0) * 1000) / ROUND_DELIVERIES);
      ourStatements.push((statements - s0) / ROUND_DELIVERIES);
      console.log(
        `[bench:webhooks] round ${r}: bare keep-alive loop ${base[r - 1].toFixed(0)}/s, webhooks ${ours[r - 1].toFixed(0)}/s, ratio ${(ours[r - 1] / base[r - 1]).toFixed(2)}; ` +
          `CPU ${baseCpu[r - 1].toFixed(0)} vs ${ourCpu[r - 1].toFixed(0)} µs/delivery, ${ourStatements[r - 1].toFixed(2)} MySQL statements/delivery (publish included)`,
      );
    }
    console.log(`[bench:webhooks] median: bare ${median(base).toFixed(0)}/s, webhooks ${median(ours).toFixed(0)} deliveries/s, ratio ${(median(ours) / median(base)).toFixed(2)} (target >= 0.5)`);
    console.log(
      `[bench:webhooks] median cost per delivery in this process: bare ${median(baseCpu).toFixed(0)} µs CPU, webhooks ${median(ourCpu).toFixed(0)} µs CPU (${(median(ourCpu) / median(baseCpu)).toFixed(1)}x) and ${median(ourStatements).toFixed(2)} MySQL statements; no Redis`,
    );

    // The campaign: batched endpoint, every event once.
    await updateEndpoint(ctx.db, tenantId, single, { active: false });
    await insertEndpoint(ctx.db, keyRing, { tenantId, name: 'batched', url: `${receiver.url}/batched`, eventTypes: ['message.sent'], active: true, batchMax: 100, secret: generateWebhookSecret(), createdBy: null });
    await new Promise((r) => setTimeout(r, 1100)); // the worker's endpoint cache
    const before = await stats(receiver.url);
    const t0 = performance.now();
    await publish(CAMPAIGN_EVENTS, 1000);
    const published = (performance.now() - t0) / 1000;
    const after = await waitForStats(receiver.url, (s) => s.events >= before.events + CAMPAIGN_EVENTS, 1_800_000);
    const took = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 2000)); // let any duplicate show up
    const settled = await stats(receiver.url);
    console.log(
      `[bench:webhooks] campaign: ${CAMPAIGN_EVENTS} message.sent events (published in ${published.toFixed(1)} s) delivered in ${took.toFixed(1)} s (${(CAMPAIGN_EVENTS / took).toFixed(0)} events/s) in ${after.requests - before.requests} requests (batch_max 100); ` +
        `unique events ${settled.events - before.events}, duplicate webhook-ids ${settled.duplicateIds}, duplicate events ${settled.duplicateEvents}`,
    );
    console.log(`[bench:webhooks] ${loadAverage()}`);
    await worker.close();
    if (settled.duplicateIds || settled.duplicateEvents || settled.events - before.events !== CAMPAIGN_EVENTS) process.exitCode = 1;
  } finally {
    receiver.child.kill('SIGTERM');
    agent.destroy();
    await ctx.close();
    await dropDatabase(config.db);
    await deleteRedisPrefix(config.redis);
  }
}

if (process.argv.includes('--receiver')) runReceiver();
else
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
