/**
 * `npm run bench:callbacks` — callback intake throughput against the real endpoint.
 *
 * Starts two child processes on this machine: the real API (`POST /callbacks/gateway`, MariaDB + Redis,
 * its own throw-away database and Redis prefix) and a bare Express app answering 200 without storing.
 * Each is driven for DURATION seconds by signed callbacks over keep-alive (undici Pool) at CONCURRENCY
 * in flight, in alternating rounds so background load on a shared machine hits both alike. Prints the load average before and after, each round's rates and ratio, acknowledged events/s for both, the median ratio of the rounds (target ≥ 0.5), and checks that the rows
 * stored equal the 2xx answers (nothing acknowledged is lost).
 *
 * Env: BENCH_DURATION_S (20), BENCH_CONCURRENCY (64), BENCH_WARMUP_S (2), BENCH_ROUND_S (5), plus the usual DB_* / REDIS_URL.
 */
import 'dotenv/config';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { cpuSeconds, loadAverage, median, pidOfPort } from './lib/bench-figures';
import { Pool } from 'undici';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 20);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 2);
const ROUND_S = Number(process.env.BENCH_ROUND_S ?? 5);
const SECRET = 'bench-callback-secret';

// --- child modes ---------------------------------------------------------------------------------

async function runBareServer(): Promise<void> {
  const express = (await import('express')).default;
  const app = express();
  app.post('/callbacks/gateway', (_req, res) => {
    res.sendStatus(200);
  });
  const server = app.listen(0, '127.0.0.1', () => {
    const addr = server.address() as { port: number };
    process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${addr.port}` })}\n`);
  });
  server.keepAliveTimeout = 65_000;
}

async function runApiServer(): Promise<void> {
  const { loadConfig } = await import('../src/config');
  const { createAppContext } = await import('../src/context');
  const { startApiServer } = await import('../src/server');
  const config = loadConfig();
  const ctx = createAppContext(config);
  const api = await startApiServer(ctx, 0, '127.0.0.1');
  process.stdout.write(`${JSON.stringify({ url: api.url })}\n`);
  process.on('SIGTERM', () => {
    void api
      .close()
      .then(() => ctx.close())
      .finally(() => process.exit(0));
  });
}

// --- driver --------------------------------------------------------------------------------------

function startChild(mode: string, env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string }> {
  // BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the API child (for finding hot spots).
  const prof = mode === '--api-server' && process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', __filename, mode], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk: Buffer) => {
      buf += chunk.toString();
      const line = buf.split('\n').find((l) => l.startsWith('{"url"'));
      if (line) {
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve({ child, url: JSON.parse(line).url as string });
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${mode} exited early with ${code}`)));
  });
}

interface LoadResult {
  ok: number;
  non2xx: number;
  errors: number;
  seconds: number;
  latenciesMs: number[];
}

async function drive(url: string, seconds: number, sign: (ts: number, body: string) => string): Promise<LoadResult> {
  const pool = new Pool(url, { connections: CONCURRENCY, pipelining: 1, keepAliveTimeout: 60_000 });
  const result: LoadResult = { ok: 0, non2xx: 0, errors: 0, seconds, latenciesMs: [] };
  const guids = Array.from({ length: 50 }, (_, i) => `bench-guid-${i}`);
  const started = performance.now();
  const until = started + seconds * 1000;
  const loop = async () => {
    while (performance.now() < until) {
      const ts = Math.floor(Date.now() / 1000);
      const body = JSON.stringify({
        event_id: randomUUID(),
        guid: guids[(Math.random() * guids.length) | 0],
        notify_type: 3,
        payload: { messages: [{ kind: 'receipt', msg_id: randomBytes(8).toString('hex'), status: 'delivered', at: ts }] },
        timestamp: ts,
      });
      const t0 = performance.now();
      try {
        const res = await pool.request({
          path: '/callbacks/gateway',
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-gateway-timestamp': String(ts), 'x-gateway-signature': sign(ts, body) },
          body,
        });
        await res.body.dump();
        if (res.statusCode >= 200 && res.statusCode < 300) result.ok++;
        else result.non2xx++;
        if (result.latenciesMs.length < 200_000) result.latenciesMs.push(performance.now() - t0);
      } catch {
        result.errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  result.seconds = (performance.now() - started) / 1000;
  await pool.close();
  return result;
}

const load = loadAverage;

const emptyResult = (): LoadResult => ({ ok: 0, non2xx: 0, errors: 0, seconds: 0, latenciesMs: [] });
function merge(into: LoadResult, r: LoadResult): void {
  into.ok += r.ok;
  into.non2xx += r.non2xx;
  into.errors += r.errors;
  into.seconds += r.seconds;
  for (const l of r.latenciesMs) if (into.latenciesMs.length < 400_000) into.latenciesMs.push(l);
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

function report(label: string, r: LoadResult): number {
  const rate = r.ok / r.seconds;
  console.log(
    `${label.padEnd(28)} ${rate.toFixed(0).padStart(7)} events/s 2xx   (2xx ${r.ok}, non-2xx ${r.non2xx}, errors ${r.errors}, ` +
      `${r.seconds.toFixed(1)} s, p50 ${pct(r.latenciesMs, 50).toFixed(1)} ms, p99 ${pct(r.latenciesMs, 99).toFixed(1)} ms)`,
  );
  return rate;
}

async function main(): Promise<void> {
  const { loadConfig } = await import('../src/config');
  const { createKnex, ensureDatabase, dropDatabase } = await import('../src/db/knex');
  const { prepareDatabase } = await import('../src/db/migrator');
  const { signCallback } = await import('../src/gateway/callback-protocol');
  const { deleteRedisPrefix } = await import('./lib/redis-prefix');

  const tag = randomBytes(3).toString('hex');
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'development',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    DB_NAME: `wwp_bench_cb_${tag}`,
    REDIS_PREFIX: `{wwp-bench-cb-${tag}}`,
    GATEWAY_CALLBACK_SECRET: SECRET,
    CRON_ENABLED: 'false',
  };
  const config = loadConfig(childEnv);
  await ensureDatabase(config.db);
  const db = createKnex(config.db, { poolMax: 2 });
  await prepareDatabase(db, config.partitions.monthsAhead);

  const sign = (ts: number, body: string) => signCallback(SECRET, ts, body);
  const children: ChildProcess[] = [];
  try {
    console.log(
      `bench:callbacks — concurrency ${CONCURRENCY}, ${DURATION_S} s per target in interleaved ${ROUND_S} s rounds (+${WARMUP_S} s warm-up), keep-alive undici Pool`,
    );
    const bare = await startChild('--bare-server', childEnv);
    children.push(bare.child);
    const api = await startChild('--api-server', childEnv);
    children.push(api.child);
    // Warm-up traffic to the endpoint is real traffic: stored too and counted in the row check.
    await drive(bare.url, WARMUP_S, sign);
    const warm = await drive(api.url, WARMUP_S, sign);
    // Interleaved rounds, so both targets see the same background load on a shared machine.
    const rounds = Math.max(1, Math.round(DURATION_S / ROUND_S));
    const bareResult = emptyResult();
    const apiResult = emptyResult();
    let bareCpuMs = 0;
    let apiCpuMs = 0;
    // The endpoint's cost does not end in its process: MariaDB and Redis work for each event too.
    const servers = [pidOfPort(config.db.port), pidOfPort(Number(new URL(config.redis.url).port || 6379))];
    const serverCpuMs = [0, 0];
    const cpuMsOf = (pid: number | undefined) => cpuSeconds(pid) * 1000;
    console.log(`before: ${load()}`);
    const ratios: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const b0 = cpuMsOf(bare.child.pid);
      const b = await drive(bare.url, DURATION_S / rounds, sign);
      merge(bareResult, b);
      bareCpuMs += cpuMsOf(bare.child.pid) - b0;
      const a0 = cpuMsOf(api.child.pid);
      const s0 = servers.map(cpuMsOf);
      const a = await drive(api.url, DURATION_S / rounds, sign);
      merge(apiResult, a);
      apiCpuMs += cpuMsOf(api.child.pid) - a0;
      servers.forEach((pid, j) => (serverCpuMs[j] += cpuMsOf(pid) - s0[j]));
      const [br, ar] = [b.ok / b.seconds, a.ok / a.seconds];
      ratios.push(ar / br);
      console.log(`round ${i + 1}: bare ${br.toFixed(0)} events/s, endpoint ${ar.toFixed(0)} events/s, ratio ${(ar / br).toFixed(2)}`);
    }
    console.log(`after: ${load()}`);
    bare.child.kill('SIGTERM');

    const bareRate = report('bare Express (no storage)', bareResult);
    const apiRate = report('POST /callbacks/gateway', apiResult);
    const ratio = median(ratios);
    console.log(`ratio endpoint/bare            ${(apiRate / bareRate).toFixed(2)} over all rounds; median of rounds ${ratio.toFixed(2)}   (target >= 0.5: ${ratio >= 0.5 ? 'met' : 'NOT met'})`);
    if (bareCpuMs > 0 && apiCpuMs > 0) {
      // Server-process CPU per acknowledged event: far steadier than rates on a shared machine.
      console.log(
        `server CPU per event           bare ${((bareCpuMs * 1000) / bareResult.ok).toFixed(0)} µs, endpoint ${((apiCpuMs * 1000) / apiResult.ok).toFixed(0)} µs ` +
          `(process busy ${((100 * bareCpuMs) / 1000 / bareResult.seconds).toFixed(0)}% / ${((100 * apiCpuMs) / 1000 / apiResult.seconds).toFixed(0)}% of one core)`,
      );
      // Shared servers: other processes on the machine add to these (an upper bound per event).
      const perEvent = (ms: number) => `${((ms * 1000) / apiResult.ok).toFixed(0)} µs`;
      console.log(`server CPU per endpoint event  MariaDB ${perEvent(serverCpuMs[0])}, Redis ${perEvent(serverCpuMs[1])} (shared servers: an upper bound)`);
    }

    const acked = warm.ok + apiResult.ok;
    const [{ n }] = (await db('callback_events').count({ n: '*' })) as Array<{ n: number | string }>;
    const stored = Number(n);
    console.log(`rows stored ${stored} / 2xx answers ${acked} (incl. ${warm.ok} warm-up): ${stored === acked ? 'OK, nothing acknowledged was lost' : 'MISMATCH'}`);
    api.child.kill('SIGTERM');
    await new Promise((r) => api.child.once('exit', r));
    if (stored !== acked) process.exitCode = 1;
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await db.destroy();
    await dropDatabase(config.db);
    await deleteRedisPrefix(config.redis);
  }
}

const mode = process.argv[2];
const run = mode === '--bare-server' ? runBareServer : mode === '--api-server' ? runApiServer : main;
run().catch((err) => {
  console.error(err);
  process.exit(1);
});
