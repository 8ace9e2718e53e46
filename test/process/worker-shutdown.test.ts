import { keys } from '../../src/sending/redis-scripts';
import { createTenant, type TestTenant } from '../helpers/env';
import { PROCESS_TEST_TIMEOUT_MS, START_TIMEOUT_MS, spawnRole } from '../helpers/processes';
import { createSendingEnv, onlineAccount, startWorkers, stopWorkers, taskApi, targets, type SendingEnv } from '../sending/helpers';

/**
 * The worker role as a separate process (the real entry point): on SIGTERM it finishes the sends it has
 * in flight, records them, releases the account locks it holds and exits 0; nothing is left for the
 * orphan path.
 */
jest.setTimeout(PROCESS_TEST_TIMEOUT_MS);

let env: SendingEnv;
let t: TestTenant;
beforeAll(async () => {
  env = await createSendingEnv('workershutdown');
  t = await createTenant(env);
});
afterAll(() => env.close());

test('SIGTERM while sends are in flight: they complete and are recorded, the account lock is released, exit 0', async () => {
  const tasks = taskApi(env, t);
  const a = await onlineAccount(env, t.tenantId);
  const worker = spawnRole({ role: 'worker', config: env.config, env: { SIMULATOR_PORT: String(new URL(env.sim.url).port), LOG_LEVEL: 'info' } });
  await worker.waitForOutput(/"msg":"workers started"/, 'the worker role to start');

  env.sim.holdSends();
  const id = await tasks.create({ account_ids: [a.id], targets: targets(40) });
  await tasks.start(id);
  // Barrier: sends are on the wire, parked at the gateway's door.
  // (A child process under load: expansion and the first claim may take a while after start-up.)
  await env.sim.waitForHeldSends(1, 'the worker process’s first sends parked at the simulator', START_TIMEOUT_MS);
  const inFlight = env.sim.heldSends;
  worker.signal('SIGTERM');
  await worker.waitForOutput(/"msg":"shutting down"/, 'the worker to begin its shutdown');
  env.sim.releaseSends();
  expect(await worker.stop()).toEqual({ code: 0, signal: null });

  // The sends in flight at SIGTERM reached the gateway and every delivery is recorded as sent; none is left in `sending`.
  const delivered = env.sim.sends.filter((x) => x.outcome === 'delivered').map((x) => x.key);
  expect(delivered.length).toBeGreaterThanOrEqual(inFlight);
  const counts = await tasks.statusCounts(id);
  expect(counts.sending).toBeUndefined();
  const sent = (await env.ctx.db('messages').where({ batch_id: id, status: 'sent' }).pluck('id')) as string[];
  expect(sent.sort()).toEqual([...delivered].sort());
  // The account's sender lock went with the process (a successor need not wait for it to expire).
  expect(await env.ctx.redis.exists(keys.accountLock(env.config.redis, a.id))).toBe(0);

  // A successor finishes the task; nothing had to be re-sent as an orphan.
  const workers = startWorkers(env);
  try {
    await tasks.waitForStatus(id, 'completed');
  } finally {
    await stopWorkers(workers);
  }
  expect(env.sim.control.ledger.summary()).toMatchObject({ unique_keys: 40, duplicate_deliveries: 0, duplicate_requests: 0 });
});
