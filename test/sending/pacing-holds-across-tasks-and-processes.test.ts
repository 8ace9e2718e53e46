import { createTenant, type TestTenant } from '../helpers/env';
import { PROCESS_TEST_TIMEOUT_MS, spawnRole, type SpawnedRole } from '../helpers/processes';
import { smallestGapMs } from '../helpers/simulator';
import { createSendingEnv, onlineAccount, taskApi, targets, type SendingEnv } from './helpers';

/**
 * Pacing is per account, whatever sends for it: two tasks on one account, sent by two worker processes
 * (each slice of the account may run in either), against a gateway whose limiter is strict (burst 1).
 * The gateway never answers rate_limited, and no two of the account's requests reach it closer than
 * its interval. Lower bounds on the simulator's own clock: a correctness check, not a timed test.
 */
jest.setTimeout(PROCESS_TEST_TIMEOUT_MS);

const RATE_PER_MINUTE = 300; // the gateway's limit and each task's pace: one request per 200 ms
const INTERVAL_MS = 60_000 / RATE_PER_MINUTE;

let env: SendingEnv;
let t: TestTenant;
const workers: SpawnedRole[] = [];
beforeAll(async () => {
  env = await createSendingEnv('pacing');
  t = await createTenant(env);
});
afterAll(async () => {
  for (const w of workers) await w.stop();
  await env.close();
});

/** The expand and send workers in a child process (test/sending/worker-child.ts: 2 s slices, so the account moves between processes). */
function spawnWorker(): SpawnedRole {
  const worker = spawnRole({ script: 'test/sending/worker-child.ts', config: env.config, env: { SIMULATOR_PORT: String(new URL(env.sim.url).port) } });
  workers.push(worker);
  return worker;
}

test('two tasks on one account through two worker processes: zero rate-limited answers, no gap below the interval', async () => {
  env.sim.control.configure({ send_rate_per_minute: RATE_PER_MINUTE, send_burst: 1 });
  const [a, b] = [spawnWorker(), spawnWorker()];
  await Promise.all([a.waitForOutput(/ready/, 'worker process A to start'), b.waitForOutput(/ready/, 'worker process B to start')]);

  const tasks = taskApi(env, t);
  const account = await onlineAccount(env, t.tenantId);
  const strategy = { rate_per_minute: RATE_PER_MINUTE, jitter: 0 };
  const first = await tasks.create({ account_ids: [account.id], targets: targets(20, 'one'), send_strategy: strategy });
  const second = await tasks.create({ account_ids: [account.id], targets: targets(20, 'two'), send_strategy: strategy });
  await tasks.start(first);
  await tasks.start(second);
  await tasks.waitForStatus(first, 'completed', 120_000);
  await tasks.waitForStatus(second, 'completed', 120_000);

  const arrivals = env.sim.sendsOf(account.guid);
  expect(arrivals.filter((x) => x.outcome === 'rate_limited')).toEqual([]);
  expect(arrivals.filter((x) => x.outcome === 'delivered')).toHaveLength(40);
  // Every request was one of the two tasks' messages, all 40 delivered once.
  const ids = new Set((await env.ctx.db('messages').whereIn('batch_id', [first, second]).pluck('id')) as string[]);
  expect(arrivals.filter((x) => !ids.has(x.key))).toEqual([]);

  expect(smallestGapMs(arrivals)).toBeGreaterThanOrEqual(INTERVAL_MS);
  expect(env.sim.control.ledger.summary()).toMatchObject({ unique_keys: 40, duplicate_deliveries: 0 });
});
