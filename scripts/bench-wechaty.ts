import 'dotenv/config';
import { spawn, type ChildProcess } from 'node:child_process';
import { deployedNodeFlags } from './lib/deployed-node-flags';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { createPuppet, detachPuppet, type PuppetLike } from '../src/gateway/wechaty/puppet-client';
import { HttpGatewayClient } from '../src/gateway/http-client';
import { loadAverage, median } from './lib/bench-figures';
import { deleteRedisPrefix } from './lib/redis-prefix';

/**
 * `npm run bench:wechaty`: one gateway-wechaty process hosting many accounts (BENCH_WX_ACCOUNTS, default
 * 200), each a PuppetService client connected to its own PuppetServer (upstream wechaty-puppet-service +
 * PuppetMock, test/fixtures/puppet-peer.ts, in a process of its own). Prints:
 *   - the gateway's RSS and CPU with every account connected and online, idle and while sending;
 *   - text sends through the gateway (REST, idempotency ledger in Redis, puppet call) vs the same puppet
 *     call made directly from this process with the same client library to servers of the same peer,
 *     in interleaved rounds at the same concurrency; the median ratio (target ≥ 0.8).
 * The gateway side sends the way the worker does: through the platform's HttpGatewayClient configured
 * as createGateway configures the wechaty channel's (WECHATY_BATCH_SENDS, on by default), so sends
 * started in the same event-loop turn leave as one batch request (`POST /messages/batch`, protocol.ts),
 * as the scheduler's concurrent sends of many accounts do. Each of the CONCURRENCY loops still waits
 * for its own send's answer before it sends again, exactly like the direct side's loops; only the HTTP
 * hop is shared. A fourth side, "single" (BENCH_WX_SINGLE=0 skips it), sends to the same gateway with
 * batching off: one request per send, as before batches existed.
 * Both sides get the same treatment: one unmeasured warm-up round each (the JIT, connection pools, Redis
 * and gRPC channels), then rounds of a fixed duration (BENCH_WX_ROUND_SECONDS, a few seconds: a round of
 * a few hundred sends is over before the JIT has settled), the order alternating.
 * The machine is shared: load averages are printed before, with every round, and after.
 * A third side, a gateway without its send ledger (bench only), prices the delivery guarantee.
 * Besides the rates, the CPU per send of every process on each side (from /proc, independent of load).
 * BENCH_WX_CPU_PROF=<dir>: the gateways run with `node --cpu-prof` and write their profiles to <dir>/<side>/
 * on exit (the largest file is the main thread's).
 */
const ACCOUNTS = Number(process.env.BENCH_WX_ACCOUNTS ?? 200);
// As many direct clients as the gateway hosts accounts, so both sides spread the same sends over the
// same number of gRPC connections (fewer connections carry more calls each, and HTTP/2 then writes
// several calls' frames at once: 20 direct clients against 200 accounts measured the connection count,
// not the gateway). BENCH_WX_DIRECT sets another number.
const DIRECT = Number(process.env.BENCH_WX_DIRECT ?? ACCOUNTS);
const ROUNDS = Number(process.env.BENCH_WX_ROUNDS ?? 5);
const ROUND_SECONDS = Number(process.env.BENCH_WX_ROUND_SECONDS ?? 4);
const WARMUP_SECONDS = Number(process.env.BENCH_WX_WARMUP_SECONDS ?? ROUND_SECONDS);
// One send in flight per account by default: the worker's scheduler keeps one paced send in flight
// per account, so 200 accounts sending are 200 sends in flight (the default was 32 before: at 32 the
// quiet ratio was 0.78 where at 200 it was 0.90; BENCH_WX_CONCURRENCY sets another number).
const CONCURRENCY = Number(process.env.BENCH_WX_CONCURRENCY ?? ACCOUNTS);
const CPU_PROF_DIR = process.env.BENCH_WX_CPU_PROF;
// A second gateway whose send ledger records nothing (scripts/lib/wechaty-gateway-without-ledger.ts), in
// the same interleaved rounds: what the delivery guarantee's two Redis writes per send cost. 0 = skip it.
const WITHOUT_LEDGER = process.env.BENCH_WX_WITHOUT_LEDGER !== '0';
const SINGLE = process.env.BENCH_WX_SINGLE !== '0';
const ROOT = path.resolve(__dirname, '..');
const API_KEY = 'bench-wechaty-gateway-key';

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });

function start(script: string, args: string[], env: Record<string, string>, ready: RegExp, label: string, nodeArgs: string[] = []): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out = (out + d.toString()).slice(-20_000);
      if (ready.test(out)) resolve(child);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${label} exited (${code}) before it was ready:\n${out.slice(-3000)}`)));
  });
}

/** CPU seconds (user + system) and RSS of a process, from /proc. */
function procUsage(pid: number): { cpuS: number; rssMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssPages = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
  return { cpuS: ticks / 100, rssMiB: (rssPages * 4096) / 2 ** 20 };
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

/** Runs `send(i)` from `concurrency` loops for `seconds`; answers sends per second (only completed sends count). */
async function sendFor(seconds: number, concurrency: number, send: (i: number) => Promise<void>): Promise<{ rate: number; sends: number }> {
  const start = performance.now();
  const until = start + seconds * 1000;
  let i = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        await send(i++);
        done++;
      }
    }),
  );
  return { rate: done / ((performance.now() - start) / 1000), sends: done };
}

type Side = 'gateway' | 'single' | 'unledgered' | 'direct';

async function main(): Promise<void> {
  console.log(`[bench:wechaty] ${ACCOUNTS} accounts through one gateway${WITHOUT_LEDGER ? ` (and ${ACCOUNTS} through a gateway without its send ledger)` : ''}; ${DIRECT} direct clients; a ${WARMUP_SECONDS} s warm-up round, then ${ROUNDS} rounds of ${ROUND_SECONDS} s per side at concurrency ${CONCURRENCY}`);
  console.log(`[bench:wechaty] before: ${loadAverage()}`);
  const base = loadConfig();
  const redisConfigs = ['{wwp-bench-wx}', '{wwp-bench-wx-nl}'].map((prefix) => ({ ...base.redis, prefix }));
  for (const rc of redisConfigs) await deleteRedisPrefix(rc);
  const home = mkdtempSync(path.join(os.tmpdir(), 'wwp-bench-wx-'));
  const children: ChildProcess[] = [];
  const direct: PuppetLike[] = [];
  const sink = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  });
  try {
    // The provider side and a callback sink (the gateway's callbacks are acknowledged and dropped).
    const controlPort = await freePort();
    const peer = await start('test/fixtures/puppet-peer.ts', [], { HOME: path.join(home, 'peer'), PEER_CONTROL_PORT: String(controlPort), WECHATY_LOG: 'silent' }, /puppet peer listening/, 'puppet peer');
    children.push(peer);
    const control = async (method: string, p: string, body?: unknown) => {
      const res = await fetch(`http://127.0.0.1:${controlPort}${p}`, { method, headers: { 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
      if (!res.ok) throw new Error(`peer ${method} ${p}: ${res.status} ${await res.text()}`);
      return res.json() as Promise<any>;
    };
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
    const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/callbacks/gateway`;

    /** A gateway process with `ACCOUNTS` accounts: a PuppetServer each, logged in by scan on the mock phone. */
    const startGateway = async (name: string, script: string, args: string[], redisPrefix: string) => {
      const port = await freePort();
      const child = await start(
        script,
        args,
        {
          HOME: path.join(home, name),
          WECHATY_CACHE_DIR: path.join(home, name),
          WECHATY_GATEWAY_PORT: String(port),
          WECHATY_GATEWAY_API_KEY: API_KEY,
          REDIS_PREFIX: redisPrefix,
          CALLBACK_URL: sinkUrl,
          LOG_LEVEL: 'info',
          LOG_FORMAT: 'json',
        },
        /wechaty gateway listening/,
        name,
        // The flags docker-compose.yml gives the role (its heap limit), so the peak RSS is a deployment's.
        [...deployedNodeFlags('gateway-wechaty'), ...(CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(CPU_PROF_DIR, name)}`] : [])],
      );
      children.push(child);
      const client = new HttpGatewayClient({ url: `http://127.0.0.1:${port}`, apiKey: API_KEY, timeoutMs: 60_000, connections: CONCURRENCY, batchSends: base.wechaty.batchSends });
      const single = new HttpGatewayClient({ url: `http://127.0.0.1:${port}`, apiKey: API_KEY, timeoutMs: 60_000, connections: CONCURRENCY, batchSends: false });
      const t0 = Date.now();
      const guids: string[] = [];
      const tokens: string[] = [];
      await pool(
        Array.from({ length: ACCOUNTS }, (_, i) => i),
        8,
        async (i) => {
          const token = `insecure_bench_${name}_${i}`;
          const grpcPort = await freePort();
          await control('POST', '/servers', { token, port: grpcPort });
          const { guid } = await client.createInstance({ label: `bench-${i}`, credentials: { token, endpoint: `127.0.0.1:${grpcPort}`, tls: { insecure: true } } });
          await control('POST', `/servers/${token}/scan`, { status: 2, qrcode: `https://login.mock.test/qr/${i}` });
          await client.startLogin(guid);
          await control('POST', `/servers/${token}/login`, {});
          for (let k = 0; !(await client.getStatus(guid)).online; k++) {
            if (k > 600) throw new Error(`${name}: account ${i} did not come online`);
            await new Promise((r) => setTimeout(r, 100));
          }
          guids.push(guid);
          tokens.push(token);
        },
      );
      console.log(`[bench:wechaty] ${guids.length} accounts online through ${name} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return { child, client, single, guids, tokens };
    };

    const gateway = await startGateway('gateway', 'src/main.ts', ['--role', 'gateway-wechaty'], redisConfigs[0].prefix);
    const unledgered = WITHOUT_LEDGER ? await startGateway('unledgered', 'scripts/lib/wechaty-gateway-without-ledger.ts', [], redisConfigs[1].prefix) : undefined;

    // The baseline: the same client library, driven directly (no REST, no ledger), to servers of the same peer.
    process.env.HOME = path.join(home, 'direct');
    for (let i = 0; i < DIRECT; i++) {
      const token = `insecure_bench_direct_${i}`;
      const port = await freePort();
      await control('POST', '/servers', { token, port });
      const p = createPuppet({ token, endpoint: `127.0.0.1:${port}`, tls: { insecure: true } });
      p.on('error', () => undefined);
      await p.start();
      await control('POST', `/servers/${token}/login`, {});
      for (let k = 0; !p.isLoggedIn; k++) {
        if (k > 600) throw new Error(`direct client ${i} did not log in`);
        await new Promise((r) => setTimeout(r, 100));
      }
      direct.push(p);
    }

    // Idle: everything connected, keepalives running.
    const gwPid = gateway.child.pid!;
    const idleStart = procUsage(gwPid);
    const idleT = Date.now();
    await new Promise((r) => setTimeout(r, 15_000));
    const idleEnd = procUsage(gwPid);
    const idleCpu = (idleEnd.cpuS - idleStart.cpuS) / ((Date.now() - idleT) / 1000);

    let seq = 0;
    const through = (g: { client: HttpGatewayClient; guids: string[] }) => (i: number) => {
      const n = seq++;
      return g.client.sendMessage({ guid: g.guids[i % g.guids.length], conversationId: `bench-target-${n}`, content: { type: 'text', text: `bench ${n}` }, idempotencyKey: `bench-${n}` }).then(() => undefined);
    };
    const send: Record<Side, ((i: number) => Promise<void>) | undefined> = {
      gateway: through(gateway),
      single: SINGLE ? through({ client: gateway.single, guids: gateway.guids }) : undefined,
      unledgered: unledgered && through(unledgered),
      direct: (i: number) => {
        const n = seq++;
        return direct[i % direct.length].messageSendText(`bench-target-${n}`, `bench ${n}`).then(() => undefined);
      },
    };
    const sides = (['gateway', 'single', 'unledgered', 'direct'] as const).filter((side) => send[side]);
    const serverPid: Partial<Record<Side, number>> = { gateway: gwPid, single: gwPid, unledgered: unledgered?.child.pid };

    // CPU per send of every process on each side (load-independent, unlike the rates): this process is
    // the HTTP client on the gateway sides and the puppet client on the direct side.
    const selfCpuS = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    };
    const stats = Object.fromEntries(sides.map((side) => [side, { rates: [] as number[], sends: 0, client: 0, server: 0, peer: 0, wall: 0 }])) as Record<Side, { rates: number[]; sends: number; client: number; server: number; peer: number; wall: number }>;
    let peakRss = idleEnd.rssMiB;
    const sentThrough: Record<Side, number> = { gateway: 0, single: 0, unledgered: 0, direct: 0 };
    const round = async (side: Side, seconds: number, measured: boolean) => {
      const pid = serverPid[side];
      const [c0, p0, s0, w0] = [selfCpuS(), procUsage(peer.pid!).cpuS, pid ? procUsage(pid).cpuS : 0, performance.now()];
      const out = await sendFor(seconds, CONCURRENCY, send[side]!);
      sentThrough[side] += out.sends;
      if (!measured) return;
      const st = stats[side];
      st.rates.push(out.rate);
      st.sends += out.sends;
      st.client += selfCpuS() - c0;
      st.peer += procUsage(peer.pid!).cpuS - p0;
      st.wall += (performance.now() - w0) / 1000;
      if (pid) {
        const u = procUsage(pid);
        st.server += u.cpuS - s0;
        if (side === 'gateway' || side === 'single') peakRss = Math.max(peakRss, u.rssMiB);
      }
    };

    // Warm-up, unmeasured, the same for every side.
    for (const side of sides) await round(side, WARMUP_SECONDS, false);
    console.log(`[bench:wechaty] warm-up done (${loadAverage()})`);

    const ratios: number[] = [];
    const unledgeredRatios: number[] = [];
    const singleRatios: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Interleaved, the order rotating, so load swings hit every side alike.
      const order = sides.map((_, k) => sides[(k + r) % sides.length]);
      for (const side of order) await round(side, ROUND_SECONDS, true);
      const rateOf = (side: Side) => stats[side].rates[r];
      ratios.push(rateOf('gateway') / rateOf('direct'));
      if (unledgered) unledgeredRatios.push(rateOf('unledgered') / rateOf('direct'));
      if (SINGLE) singleRatios.push(rateOf('single') / rateOf('direct'));
      const extra =
        (SINGLE ? `, single sends ${rateOf('single').toFixed(0)} sends/s (ratio ${singleRatios[r].toFixed(2)})` : '') +
        (unledgered ? `, without ledger ${rateOf('unledgered').toFixed(0)} sends/s (ratio ${unledgeredRatios[r].toFixed(2)})` : '');
      console.log(`[bench:wechaty] round ${r + 1}: gateway ${rateOf('gateway').toFixed(0)} sends/s, direct ${rateOf('direct').toFixed(0)} sends/s, ratio ${ratios[r].toFixed(2)}${extra}  (${loadAverage()})`);
    }

    // Every send reached a mock, exactly once per key (the gateway's sends are checked at the provider).
    const received = (await Promise.all(gateway.tokens.map((t) => control('GET', `/servers/${t}/sent`)))).reduce((n, x) => n + x.sent.length, 0);

    const us = (cpuS: number, sends: number) => ((cpuS / sends) * 1e6).toFixed(0);
    const cpuLine = (side: Side, label: string) => {
      const st = stats[side];
      const parts = side === 'direct' ? `puppet client ${us(st.client, st.sends)}` : `HTTP client ${us(st.client, st.sends)}, gateway ${us(st.server, st.sends)}`;
      return `| CPU per send, ${label} (µs) | ${us(st.client + st.server + st.peer, st.sends)}: ${parts}, provider peer ${us(st.peer, st.sends)} |`;
    };
    const g = stats.gateway;
    console.log('');
    console.log(`| figure | value |`);
    console.log(`| --- | --- |`);
    console.log(`| accounts online in one gateway process | ${gateway.guids.length} |`);
    console.log(`| gateway RSS, idle (all connected) | ${idleEnd.rssMiB.toFixed(0)} MiB (${(idleEnd.rssMiB / gateway.guids.length).toFixed(1)} MiB per account) |`);
    console.log(`| gateway CPU, idle | ${(idleCpu * 100).toFixed(1)}% of one core |`);
    console.log(`| gateway RSS, peak while sending | ${peakRss.toFixed(0)} MiB |`);
    console.log(`| gateway CPU while sending | ${((g.server / g.wall) * 100).toFixed(0)}% of one core |`);
    console.log(`| sends/s, median of ${ROUNDS} rounds of ${ROUND_SECONDS} s | gateway ${median(g.rates).toFixed(0)}, ${SINGLE ? `single sends ${median(stats.single.rates).toFixed(0)}, ` : ''}${unledgered ? `without ledger ${median(stats.unledgered.rates).toFixed(0)}, ` : ''}direct ${median(stats.direct.rates).toFixed(0)} |`);
    console.log(`| sends through the gateway vs direct puppet calls, median of ${ROUNDS} rounds | ratio ${median(ratios).toFixed(2)} (rounds ${ratios.map((x) => x.toFixed(2)).join(', ')}; target ≥ 0.8) |`);
    if (SINGLE) console.log(`| the same, one request per send (no batches) | ratio ${median(singleRatios).toFixed(2)} (rounds ${singleRatios.map((x) => x.toFixed(2)).join(', ')}) |`);
    if (unledgered) console.log(`| the same, gateway without its send ledger (bench only) | ratio ${median(unledgeredRatios).toFixed(2)} (rounds ${unledgeredRatios.map((x) => x.toFixed(2)).join(', ')}) |`);
    console.log(cpuLine('gateway', 'through the gateway'));
    if (SINGLE) console.log(cpuLine('single', 'through the gateway, one request per send'));
    if (unledgered) console.log(cpuLine('unledgered', 'through the gateway without its ledger'));
    console.log(cpuLine('direct', 'direct'));
    console.log(`| gateway sends received by the mocks | ${received.toLocaleString()} of ${(sentThrough.gateway + sentThrough.single).toLocaleString()} |`);
    console.log(`[bench:wechaty] after: ${loadAverage()}`);
  } finally {
    await Promise.all(direct.map((p) => detachPuppet(p)));
    for (const c of children.reverse()) c.kill('SIGTERM');
    sink.close();
    // A profiled gateway writes its profile as it exits: give it time to.
    const grace = Date.now() + (CPU_PROF_DIR ? 20_000 : 500);
    while (Date.now() < grace && children.some((c) => c.exitCode === null && c.signalCode === null)) await new Promise((r) => setTimeout(r, 100));
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    rmSync(home, { recursive: true, force: true });
    for (const rc of redisConfigs) await deleteRedisPrefix(rc).catch(() => undefined);
  }
}

main()
  .then(() => process.exit(0))
  .catch((err) => {
    console.error(`[bench:wechaty] FAILED: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  });
