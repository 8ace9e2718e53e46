import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import Redis from 'ioredis';
import { taskCounts } from '../../src/db/task-counters';
import { accountPrefix, allShardPrefixes, hashTagOf } from '../../src/redis-keyspace';
import { createTenant } from '../helpers/env';
import { REPO_ROOT } from '../helpers/processes';
import { sleep, waitFor } from '../helpers/wait';
import { createSendingEnv, onlineAccount, startWorkers, stopWorkers, targets, type SendingEnv } from '../sending/helpers';

/**
 * Redis Cluster failover mid-task (issue 14): a private 3-master + 3-replica cluster
 * (scripts/redis-cluster.sh), K = 6 hash-tag shards, one task sending through 24 accounts. The master
 * carrying the most of this file's tags is killed with SIGKILL while the task runs; its replica is
 * promoted by the cluster itself. The task must complete with every target delivered exactly once by the
 * simulator's ledger and the task's counters equal to its message rows. Timings are printed, not asserted.
 */
const SCRIPT = path.join(REPO_ROOT, 'scripts', 'redis-cluster.sh');
let basePort = 0;
let dir = '';
let env: SendingEnv;

async function portsFree(first: number, n: number): Promise<boolean> {
  for (let p = first; p < first + n; p++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    // The cluster bus listens on port + 10000 as well.
    if (!ok) return false;
  }
  return true;
}

function cluster(cmd: 'up' | 'down'): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [SCRIPT, cmd], { env: { ...process.env, REDIS_CLUSTER_PORT: String(basePort), REDIS_CLUSTER_DIR: dir }, timeout: 120_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`redis-cluster.sh ${cmd}: ${err.message} ${stderr}`)) : resolve(stdout),
    );
  });
}

beforeAll(async () => {
  for (;;) {
    basePort = 20_000 + Math.floor(Math.random() * 2_000) * 6;
    if ((await portsFree(basePort, 6)) && (await portsFree(basePort + 10_000, 6))) break;
  }
  dir = `/tmp/wwp-failover-${basePort}`;
  await cluster('up');
  const nodes = Array.from({ length: 6 }, (_, i) => `127.0.0.1:${basePort + i}`).join(',');
  env = await createSendingEnv('failover', { REDIS_CLUSTER_NODES: nodes, REDIS_SHARDS: '6' });
}, 180_000);

afterAll(async () => {
  await env?.close();
  if (basePort) await cluster('down');
}, 120_000);

/** master port → the slot ranges it serves and its replica's port, from CLUSTER SHARDS of a live node. */
async function topology(port: number): Promise<Array<{ master: number; replica: number; ranges: Array<[number, number]> }>> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
  try {
    await r.connect();
    const shards = (await r.call('CLUSTER', 'SHARDS')) as unknown[][];
    return shards.map((s) => {
      const f = toMap(s);
      const slots = f.slots as number[];
      const nodes = (f.nodes as unknown[][]).map(toMap);
      const master = nodes.find((n) => n.role === 'master' && n.health === 'online');
      const replica = nodes.find((n) => n.role === 'replica');
      const ranges: Array<[number, number]> = [];
      for (let i = 0; i < slots.length; i += 2) ranges.push([Number(slots[i]), Number(slots[i + 1])]);
      return { master: Number(master?.port), replica: Number(replica?.port), ranges };
    });
  } finally {
    r.disconnect();
  }
}
const toMap = (flat: unknown[]) => Object.fromEntries(Array.from({ length: flat.length / 2 }, (_, i) => [String(flat[2 * i]), flat[2 * i + 1]]));

async function slotOf(port: number, key: string): Promise<number> {
  const r = new Redis({ port, host: '127.0.0.1' });
  try {
    return Number(await r.call('CLUSTER', 'KEYSLOT', key));
  } finally {
    r.disconnect();
  }
}

async function role(port: number): Promise<string> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  try {
    await r.connect();
    return String(((await r.call('ROLE')) as unknown[])[0]);
  } catch {
    return 'down';
  } finally {
    r.disconnect();
  }
}

test('a master killed with SIGKILL mid-task: its replica takes over and the task completes, 0 lost, 0 duplicated, counters exact', async () => {
  env.sim.control.reset({ latency_ms: 2 });
  const t = await createTenant(env);
  const accounts = await Promise.all(Array.from({ length: 24 }, () => onlineAccount(env, t.tenantId)));
  const total = 2_400;
  const perAccount = accounts.flatMap((a, i) => Array.from({ length: total / accounts.length }, (_, j) => ({ conversation_id: `c-${i}-${j}`, account_id: a.id })));

  // The victim: the master serving the most of this file's tags (base + 6 shards).
  const tags = [env.config.redis.prefix, ...allShardPrefixes(env.config.redis)];
  const topo = await topology(basePort);
  const slots = await Promise.all(tags.map((tag) => slotOf(basePort, `${tag}:x`)));
  const carried = topo.map((m) => ({ ...m, tags: tags.filter((_, i) => m.ranges.some(([a, b]) => slots[i] >= a && slots[i] <= b)) }));
  const victim = carried.sort((a, b) => b.tags.length - a.tags.length)[0];
  const victimTags = new Set(victim.tags.map(hashTagOf));
  const victimAccounts = accounts.filter((a) => victimTags.has(hashTagOf(accountPrefix(env.config.redis, a.id))));

  const say = (s: string) => process.stdout.write(`[failover] ${s}\n`);
  say(`victim :${victim.master} (replica :${victim.replica}) carries ${victim.tags.join(' ')}; ${victimAccounts.length} accounts`);
  const workers = startWorkers(env);
  try {
    const res = await fetch(`${env.url}/api/v1/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'failover', target_type: 'manual', content: { type: 'text', text: 'hi' }, targets: perAccount, account_ids: accounts.map((a) => a.id), send_strategy: { rate_per_minute: 240, jitter: 0 } }),
    });
    expect(res.status).toBe(201);
    const id = ((await res.json()) as { id: string }).id;
    const start = await fetch(`${env.url}/api/v1/tasks/${id}/start`, { method: 'POST', headers: { authorization: `Bearer ${t.adminToken}` } });
    expect(start.status).toBe(200);
    await waitFor(() => env.sim.control.ledger.summary().unique_keys, 'a fifth of the task sent', { timeoutMs: 60_000, until: (n) => n >= total / 5 });

    say('a fifth sent; killing');
    const victimSends = () => victimAccounts.reduce((n, a) => n + env.sim.sendsOf(a.guid).length, 0);
    const pid = Number(readFileSync(path.join(dir, String(victim.master), 'redis.pid'), 'utf8'));
    const atKill = { sent: env.sim.control.ledger.summary().unique_keys, victimSends: victimSends() };
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    // Timings: the replica promoted, and the first send of an account whose shard the dead master carried.
    let promotedMs = -1;
    let victimResumedMs = -1;
    const baseline = victimSends();
    while (promotedMs < 0 || (victimAccounts.length && victimResumedMs < 0)) {
      if (promotedMs < 0 && (await role(victim.replica)) === 'master') promotedMs = Date.now() - killedAt;
      if (victimResumedMs < 0 && promotedMs >= 0 && victimSends() > baseline) victimResumedMs = Date.now() - killedAt;
      if (Date.now() - killedAt > 60_000) break;
      await sleep(50);
    }
    expect(promotedMs).toBeGreaterThan(0);
    say(`promoted after ${promotedMs} ms, victim accounts sending after ${victimResumedMs} ms`);

    const done = await waitFor(async () => (await (await fetch(`${env.url}/api/v1/tasks/${id}`, { headers: { authorization: `Bearer ${t.adminToken}` } })).json()) as Record<string, unknown>, 'the task to complete after the failover', {
      timeoutMs: 120_000,
      until: (x) => x.status === 'completed',
    });
    const finishedMs = Date.now() - killedAt;
    expect(atKill.sent).toBeLessThan(total); // killed mid-task
    expect(done).toMatchObject({ total_count: total, sent_count: total, failed_count: 0 });
    const ledger = env.sim.control.ledger.summary();
    expect(ledger.unique_keys).toBe(total); // 0 lost
    expect(ledger.duplicate_deliveries).toBe(0); // 0 duplicated
    expect(ledger.total_deliveries).toBe(total);
    const sentIds = (await env.ctx.db('messages').where({ batch_id: id, status: 'sent' }).pluck('id')) as string[];
    expect(sentIds).toHaveLength(total);
    for (const m of sentIds) expect(env.sim.control.ledger.deliveriesOf(m)).toBe(1);
    // Counters exact: the counter shards against the message rows.
    const counts = await taskCounts(env.ctx.db, id);
    expect(counts).toMatchObject({ sent: total, success: total, failed: 0, unknown: 0, cancelled: 0 });

    // The killed node comes back (scripts/redis-cluster.sh up restarts it from its nodes.conf) and rejoins as a replica.
    const restartedAt = Date.now();
    await cluster('up');
    const rejoinedMs = Date.now() - restartedAt;
    await waitFor(() => role(victim.master), `node :${victim.master} to rejoin as a replica`, { timeoutMs: 30_000, until: (r) => r === 'slave' });
    process.stdout.write(
      `[failover] killed master :${victim.master} (tags ${victim.tags.join(' ')}; ${victimAccounts.length}/24 accounts) at ${atKill.sent}/${total} sent; ` +
        `replica :${victim.replica} master after ${promotedMs} ms; those accounts sending again after ${victimResumedMs} ms; ` +
        `task completed ${finishedMs} ms after the kill; the killed node back as a replica in ${rejoinedMs} ms; ledger ${JSON.stringify(ledger)}\n`,
    );
  } finally {
    await stopWorkers(workers);
  }
}, 300_000);
