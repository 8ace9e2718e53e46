import { CRON_JOBS } from '../../src/cron/jobs';
import { runTour, type TourResult } from '../../src/demo/tour';
import { createTenant, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { freePort } from '../helpers/ports';
import { PROCESS_TEST_TIMEOUT_MS, spawnRole, waitReady, type SpawnedRole } from '../helpers/processes';
import { startRedisCluster, type PrivateRedisCluster } from '../helpers/redis-cluster';
import { startReplicaPair, type ReplicaPair } from '../helpers/replica';
import { connectSocket } from '../helpers/socket';
import { waitFor } from '../helpers/wait';

/**
 * Several copies of every role (issue 14): two api, two worker and two cron processes of the real
 * entry point, plus the gateway simulator, against a MariaDB primary with a read replica (a private GTID
 * pair, DB_READ_HOST set) and a Redis Cluster (3 masters + 3 replicas, REDIS_SHARDS=6): the run's own
 * under `npm run test:cluster`, else a private one this file starts.
 *
 * - The demo tour runs through the second API while the first is SIGTERMed (exit 0) and started again.
 * - Events a worker emits (task.progress, task.status) reach sockets connected to either API.
 * - Each cron job runs once per tick although two cron processes fire for every tick.
 */
jest.setTimeout(PROCESS_TEST_TIMEOUT_MS + 120_000);

let pair: ReplicaPair;
let cluster: PrivateRedisCluster | undefined;
let env: TestEnv;
let tenant: TestTenant;
const tenantCode = `copies${Date.now().toString(36)}`;
let shared: Record<string, string>;
const apis: Array<{ url: string; port: number; proc: SpawnedRole }> = [];
const others: SpawnedRole[] = [];
let startedAt: Date;

beforeAll(async () => {
  const [replicaPair, ownCluster] = await Promise.all([startReplicaPair(), process.env.REDIS_CLUSTER_NODES ? undefined : startRedisCluster()]);
  pair = replicaPair;
  cluster = ownCluster;
  const redis: Record<string, string> = cluster ? { REDIS_CLUSTER_NODES: cluster.nodes, REDIS_SHARDS: '6' } : {};
  env = await createTestEnv('copies', { env: { ...pair.env(), ...redis } });
  expect(env.config.redis.clusterNodes?.length).toBe(6);
  tenant = await createTenant(env, { code: tenantCode });
  const [apiPort1, apiPort2, simulatorPort] = [await freePort(), await freePort(), await freePort()];
  shared = {
    ...pair.env({ DB_READ_CHECK_MS: '500' }),
    // Start-up lines are waited for; the last 64 KiB are kept for failure messages.
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'info',
    LOG_FORMAT: 'json',
    DB_POOL_MAX: '8',
    DB_READ_POOL_MAX: '4',
    HOST: '127.0.0.1',
    PUBLIC_URL: '',
    SIMULATOR_HOST: '127.0.0.1',
    SIMULATOR_LISTEN_HOST: '127.0.0.1',
    SIMULATOR_PORT: String(simulatorPort),
    SIMULATOR_AUTO_LOGIN: 'true',
    SIMULATOR_AUTO_LOGIN_DELAY_MS: '300',
    // The gateway's callbacks go to the API that stays up (behind a load balancer they would go to either).
    CALLBACK_URL: `http://127.0.0.1:${apiPort2}/callbacks/gateway`,
    GATEWAY_URL: '',
    INFLUX_URL: '',
    MINIO_ENDPOINT: '',
    ACCOUNT_RECOVERY_BASE_DELAY_MS: '200',
  };
  startedAt = new Date();
  const simulator = spawnRole({ role: 'simulator', config: env.config, env: shared, label: 'simulator' });
  others.push(simulator);
  for (const n of [1, 2]) {
    others.push(spawnRole({ role: 'worker', config: env.config, env: shared, label: `worker ${n}` }));
    others.push(spawnRole({ role: 'cron', config: env.config, env: shared, label: `cron ${n}` }));
  }
  for (const [n, port] of [[1, apiPort1], [2, apiPort2]] as const) apis.push(startApi(n, port));
  await Promise.all([
    simulator.waitForOutput(/gateway simulator listening/, 'the simulator to listen'),
    ...others.filter((p) => p.label.startsWith('worker')).map((p) => p.waitForOutput(/workers started/, 'workers to start')),
    ...others.filter((p) => p.label.startsWith('cron')).map((p) => p.waitForOutput(/service started/, 'cron to start')),
    ...apis.map((a) => waitReady(a.url, { proc: a.proc })),
  ]);
});

afterAll(async () => {
  await Promise.all([...apis.map((a) => a.proc), ...others].map((p) => p.stop().catch(() => p.kill())));
  await env?.close();
  await Promise.all([pair?.down(), cluster?.down()]);
});

function startApi(n: number, port: number) {
  const proc = spawnRole({ role: 'api', config: env.config, env: { ...shared, PORT: String(port) }, label: `api ${n}` });
  return { url: `http://127.0.0.1:${port}`, port, proc };
}

async function tour(url: string, proc: SpawnedRole): Promise<TourResult> {
  const narrative: string[] = [];
  try {
    return await runTour({
      baseUrl: url,
      tenantCode,
      accountName: 'Copies account',
      username: tenant.username,
      password: tenant.password,
      ratePerMinute: 120,
      stepTimeoutMs: 45_000,
      log: (line) => narrative.push(line),
    });
  } catch (err) {
    const workers = others.map((p) => `--- ${p.label} ---\n${p.output().slice(-1500)}`).join('\n');
    throw new Error(`${(err as Error).message}\n--- tour so far ---\n${narrative.join('\n')}\n--- ${proc.label} ---\n${proc.output().slice(-3000)}\n${workers}`);
  }
}

test('the demo tour runs through the second API while the first is SIGTERMed and restarted; worker events reach sockets on both', async () => {
  // API 1 stops cleanly; the tour then runs through API 2 while API 1 starts again.
  expect(await apis[0].proc.stop()).toEqual({ code: 0, signal: null });
  const restarted = startApi(1, apis[0].port);
  apis[0] = restarted;
  const [first] = await Promise.all([tour(apis[1].url, apis[1].proc), waitReady(restarted.url, { proc: restarted.proc })]);
  expect(first.task).toMatchObject({ status: 'completed', failed_count: 0 });
  expect(first.task.success_count).toBe(first.task.total_count);
  expect(first.messageCounts).toEqual({ delivered: first.task.total_count });

  // A second run, through the restarted API 1, watched from a socket on each API: the workers' events
  // (published through Redis) reach both.
  const sockets = await Promise.all(apis.map((a) => connectSocket(a.url, { token: tenant.adminToken })));
  try {
    const second = await tour(apis[0].url, apis[0].proc);
    expect(second.task).toMatchObject({ status: 'completed', failed_count: 0 });
    for (const [i, s] of sockets.entries()) {
      const done = await s.waitForEvent('task.status', (p) => p.task_id === second.taskId && p.status === 'completed', `task.status completed on a socket of API ${i + 1}`);
      expect(done.task_id).toBe(second.taskId);
      expect(s.received('task.progress', (p) => p.task_id === second.taskId).length).toBeGreaterThan(0);
    }
  } finally {
    for (const s of sockets) s.close();
  }
  // Both APIs read their lists (the tour's account, template and message lists) from the replica.
  for (const a of apis) {
    const ready = await waitFor(async () => (await http('GET', `${a.url}/health/ready`)).body, `${a.proc.label} to report the replica serving reads`, { until: (b) => b.replica?.serving_reads === true });
    expect(ready).toMatchObject({ status: 'ok', checks: { mysql: 'ok', redis: 'ok', replica: 'ok' } });
  }
});

test('each cron job runs once per tick although both cron processes fire for it', async () => {
  // The callback sweeper ticks every 15 s: wait for three of its ticks since the processes started.
  await waitFor(
    async () => {
      const rows = await env.ctx.db('cron_job_runs').where('job_name', 'callback-sweeper').andWhere('tick_at', '>=', startedAt).countDistinct({ n: 'tick_at' });
      return Number(rows[0].n) >= 3;
    },
    'three callback-sweeper ticks',
    { timeoutMs: 90_000, intervalMs: 1000 },
  );
  const perTick: Array<{ job_name: string; tick_at: Date; n: number }> = await env.ctx
    .db('cron_job_runs')
    .select('job_name', 'tick_at')
    .count({ n: '*' })
    .where('tick_at', '>=', startedAt)
    .groupBy('job_name', 'tick_at');
  expect(perTick.length).toBeGreaterThanOrEqual(3);
  for (const t of perTick) expect({ job: t.job_name, tick: t.tick_at, runs: Number(t.n) }).toEqual({ job: t.job_name, tick: t.tick_at, runs: 1 });
  expect(perTick.every((t) => CRON_JOBS.some((j) => j.name === t.job_name))).toBe(true);
  // Both processes were up and firing for every tick: each started, and neither exited.
  for (const p of others.filter((o) => o.label.startsWith('cron'))) expect(p.exit).toBeUndefined();
  const byHost = await env.ctx.db('cron_job_runs').select('host').count({ n: '*' }).where('tick_at', '>=', startedAt).groupBy('host');
  console.info(`[copies] ${perTick.length} cron ticks since start, each run once; runs by process: ${JSON.stringify(byHost)}`);
});
