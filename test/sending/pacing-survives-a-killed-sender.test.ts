import { createTenant, type TestTenant } from '../helpers/env';
import { PROCESS_TEST_TIMEOUT_MS, spawnRole, type SpawnedRole } from '../helpers/processes';
import { keys } from '../../src/sending/redis-scripts';
import { smallestGapMs } from '../helpers/simulator';
import { waitFor } from '../helpers/wait';
import { createSendingEnv, onlineAccount, taskApi, targets, type SendingEnv } from './helpers';

/**
 * An account never exceeds its limit, whatever happens to the process sending for it. The worker that
 * holds the account is killed (SIGKILL) mid-task, with seconds of messages claimed ahead and GCRA slots
 * reserved in Redis; the other worker takes the account over once the lease expires, re-sends what the
 * dead one left in `sending` (same idempotency keys) and finishes the task. Against a strict gateway
 * limiter (burst 1): no rate-limited answer, no two requests reaching the limiter closer than the
 * interval, every message delivered exactly once, counters exact.
 */
jest.setTimeout(PROCESS_TEST_TIMEOUT_MS);

const RATE_PER_MINUTE = 300; // one request per 200 ms, the gateway's limit and the task's pace
const INTERVAL_MS = 60_000 / RATE_PER_MINUTE;
const TOTAL = 60;

let env: SendingEnv;
let t: TestTenant;
const workers: SpawnedRole[] = [];
beforeAll(async () => {
  env = await createSendingEnv('pacingkill');
  t = await createTenant(env);
});
afterAll(async () => {
  for (const w of workers) if (!w.exit) await w.stop();
  await env.close();
});

function spawnWorker(): SpawnedRole {
  const worker = spawnRole({ script: 'test/sending/worker-child.ts', config: env.config, env: { SIMULATOR_PORT: String(new URL(env.sim.url).port) } });
  workers.push(worker);
  return worker;
}

test('the holder of a paced account is killed mid-task: its successor never sends early and nothing is sent twice', async () => {
  env.sim.control.configure({ send_rate_per_minute: RATE_PER_MINUTE, send_burst: 1 });
  const both = [spawnWorker(), spawnWorker()];
  await Promise.all(both.map((w, i) => w.waitForOutput(/ready/, `worker process ${i + 1} to start`)));
  const tasks = taskApi(env, t);
  const account = await onlineAccount(env, t.tenantId);
  const id = await tasks.create({ account_ids: [account.id], targets: targets(TOTAL), send_strategy: { rate_per_minute: RATE_PER_MINUTE, jitter: 0 } });
  await tasks.start(id);
  const delivered = () => env.sim.sendsOf(account.guid).filter((x) => x.outcome === 'delivered').length;
  await waitFor(async () => delivered(), 'the first 8 messages to be sent', { until: (n) => n >= 8 });

  // The lease names its holder (host/pid/nonce): kill that process.
  const holder = await env.ctx.redis.get(keys.accountLock(env.config.redis, account.id));
  const first = both.find((w) => holder?.split('/')[1] === String(w.pid));
  if (!first) throw new Error(`no worker holds the account (lease ${holder})`);
  await first.kill();
  const sentByA = delivered();
  // Barrier: A's claims are in `sending` (claimed ahead and never answered for) when B takes over.
  expect(await tasks.statusCounts(id)).toHaveProperty('sending');

  const done = await tasks.waitForStatus(id, 'completed', 120_000);
  expect(delivered()).toBeGreaterThan(sentByA); // the other worker sent the rest
  expect(done).toMatchObject({ total_count: TOTAL, sent_count: TOTAL, success_count: TOTAL, failed_count: 0 });
  expect(await tasks.statusCounts(id)).toEqual({ sent: TOTAL });

  const arrivals = env.sim.sendsOf(account.guid);
  expect(arrivals.filter((x) => x.outcome === 'rate_limited')).toEqual([]);
  // A re-sent key already delivered is answered from the gateway's ledger before its limiter; every
  // other request met the limiter, and none of those came closer than the interval to the previous one.
  expect(smallestGapMs(arrivals.filter((x) => x.outcome !== 'duplicate'))).toBeGreaterThanOrEqual(INTERVAL_MS);
  expect(env.sim.control.ledger.summary()).toMatchObject({ unique_keys: TOTAL, duplicate_deliveries: 0 });
});
