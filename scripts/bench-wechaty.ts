import 'dotenv/config';
import { spawn, type ChildProcess } from 'node:child_process';
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
 * The machine is shared: load averages are printed before and after.
 */
const ACCOUNTS = Number(process.env.BENCH_WX_ACCOUNTS ?? 200);
const DIRECT = Number(process.env.BENCH_WX_DIRECT ?? 20);
const ROUNDS = Number(process.env.BENCH_WX_ROUNDS ?? 5);
const PER_ROUND = Number(process.env.BENCH_WX_SENDS ?? 600);
const CONCURRENCY = Number(process.env.BENCH_WX_CONCURRENCY ?? 32);
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

function start(script: string, args: string[], env: Record<string, string>, ready: RegExp, label: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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

async function main(): Promise<void> {
  console.log(`[bench:wechaty] ${ACCOUNTS} accounts through one gateway; ${DIRECT} direct clients; ${ROUNDS} rounds × ${PER_ROUND} sends at concurrency ${CONCURRENCY}`);
  console.log(`[bench:wechaty] before: ${loadAverage()}`);
  const base = loadConfig();
  const redisConfig = { ...base.redis, prefix: '{wwp-bench-wx}' };
  await deleteRedisPrefix(redisConfig);
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

    const gwPort = await freePort();
    const gateway = await start(
      'src/main.ts',
      ['--role', 'gateway-wechaty'],
      {
        HOME: path.join(home, 'gateway'),
        WECHATY_CACHE_DIR: path.join(home, 'gateway'),
        WECHATY_GATEWAY_PORT: String(gwPort),
        WECHATY_GATEWAY_API_KEY: API_KEY,
        REDIS_PREFIX: redisConfig.prefix,
        CALLBACK_URL: sinkUrl,
        LOG_LEVEL: 'info',
        LOG_FORMAT: 'json',
      },
      /wechaty gateway listening/,
      'gateway-wechaty',
    );
    children.push(gateway);
    const gw = new HttpGatewayClient({ url: `http://127.0.0.1:${gwPort}`, apiKey: API_KEY, timeoutMs: 60_000, connections: CONCURRENCY });

    // Accounts: a PuppetServer each, an instance at the gateway, logged in by scan on the mock phone.
    const t0 = Date.now();
    const guids: string[] = [];
    await pool(
      Array.from({ length: ACCOUNTS }, (_, i) => i),
      8,
      async (i) => {
        const token = `insecure_bench_gw_${i}`;
        const port = await freePort();
        await control('POST', '/servers', { token, port });
        const { guid } = await gw.createInstance({ label: `bench-${i}`, credentials: { token, endpoint: `127.0.0.1:${port}`, tls: { insecure: true } } });
        await control('POST', `/servers/${token}/scan`, { status: 2, qrcode: `https://login.mock.test/qr/${i}` });
        await gw.startLogin(guid);
        await control('POST', `/servers/${token}/login`, {});
        for (let k = 0; !(await gw.getStatus(guid)).online; k++) {
          if (k > 600) throw new Error(`account ${i} did not come online`);
          await new Promise((r) => setTimeout(r, 100));
        }
        guids.push(guid);
      },
    );
    console.log(`[bench:wechaty] ${guids.length} accounts online through the gateway in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

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
    const idleStart = procUsage(gateway.pid!);
    const idleT = Date.now();
    await new Promise((r) => setTimeout(r, 15_000));
    const idleEnd = procUsage(gateway.pid!);
    const idleCpu = (idleEnd.cpuS - idleStart.cpuS) / ((Date.now() - idleT) / 1000);

    let seq = 0;
    const viaGateway = async (): Promise<number> => {
      const jobs = Array.from({ length: PER_ROUND }, (_, i) => i);
      const s = Date.now();
      await pool(jobs, CONCURRENCY, async (i) => {
        const n = seq++;
        await gw.sendMessage({ guid: guids[i % guids.length], conversationId: `bench-target-${n}`, content: { type: 'text', text: `bench ${n}` }, idempotencyKey: `bench-${n}` });
      });
      return PER_ROUND / ((Date.now() - s) / 1000);
    };
    const directly = async (): Promise<number> => {
      const jobs = Array.from({ length: PER_ROUND }, (_, i) => i);
      const s = Date.now();
      await pool(jobs, CONCURRENCY, async (i) => {
        const n = seq++;
        await direct[i % direct.length].messageSendText(`bench-target-${n}`, `bench ${n}`);
      });
      return PER_ROUND / ((Date.now() - s) / 1000);
    };

    const ratios: number[] = [];
    let gwCpuS = 0;
    let gwWallS = 0;
    let peakRss = idleEnd.rssMiB;
    for (let r = 0; r < ROUNDS; r++) {
      // Interleaved, the order alternating, so load swings hit both sides alike.
      const order = r % 2 === 0 ? (['gateway', 'direct'] as const) : (['direct', 'gateway'] as const);
      const rate: Record<string, number> = {};
      for (const side of order) {
        if (side === 'gateway') {
          const u0 = procUsage(gateway.pid!);
          const w0 = Date.now();
          rate.gateway = await viaGateway();
          const u1 = procUsage(gateway.pid!);
          gwCpuS += u1.cpuS - u0.cpuS;
          gwWallS += (Date.now() - w0) / 1000;
          peakRss = Math.max(peakRss, u1.rssMiB);
        } else {
          rate.direct = await directly();
        }
      }
      ratios.push(rate.gateway / rate.direct);
      console.log(`[bench:wechaty] round ${r + 1}: gateway ${rate.gateway.toFixed(0)} sends/s, direct ${rate.direct.toFixed(0)} sends/s, ratio ${(rate.gateway / rate.direct).toFixed(2)}  (${loadAverage()})`);
    }

    // Every send reached a mock, exactly once per key (the gateway's sends are checked at the provider).
    const received = (await Promise.all(Array.from({ length: ACCOUNTS }, (_, i) => control('GET', `/servers/insecure_bench_gw_${i}/sent`)))).reduce((n, x) => n + x.sent.length, 0);

    console.log('');
    console.log(`| figure | value |`);
    console.log(`| --- | --- |`);
    console.log(`| accounts online in one gateway process | ${guids.length} |`);
    console.log(`| gateway RSS, idle (all connected) | ${idleEnd.rssMiB.toFixed(0)} MiB (${(idleEnd.rssMiB / guids.length).toFixed(1)} MiB per account) |`);
    console.log(`| gateway CPU, idle | ${(idleCpu * 100).toFixed(1)}% of one core |`);
    console.log(`| gateway RSS, peak while sending | ${peakRss.toFixed(0)} MiB |`);
    console.log(`| gateway CPU while sending | ${((gwCpuS / gwWallS) * 100).toFixed(0)}% of one core |`);
    console.log(`| sends through the gateway vs direct puppet calls, median of ${ROUNDS} rounds | ratio ${median(ratios).toFixed(2)} (target ≥ 0.8) |`);
    console.log(`| gateway sends received by the mocks | ${received} of ${(ROUNDS * PER_ROUND).toLocaleString()} |`);
    console.log(`[bench:wechaty] after: ${loadAverage()}`);
  } finally {
    await Promise.all(direct.map((p) => detachPuppet(p)));
    for (const c of children.reverse()) c.kill('SIGTERM');
    sink.close();
    await new Promise((r) => setTimeout(r, 500));
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    rmSync(home, { recursive: true, force: true });
    await deleteRedisPrefix(redisConfig).catch(() => undefined);
  }
}

main()
  .then(() => process.exit(0))
  .catch((err) => {
    console.error(`[bench:wechaty] FAILED: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  });
