/**
 * Receipts a gateway gave up on: the simulator withholds a share of its receipt callbacks (as a real
 * gateway does after its retries), so those messages stay `sent`. The reconciliation job asks the
 * gateway about messages `sent` longer than RECONCILE_AFTER_SECONDS and applies the answers: every
 * delivered message ends delivered, counters match the simulator's ledger, and nothing moves twice.
 */
import { defaultCallbackHandlers } from '../../src/callbacks/handlers';
import { messageReconcileJob, reconcileMessages } from '../../src/cron/jobs/message-reconcile';
import { CRON_JOBS } from '../../src/cron/jobs';
import { taskCounts } from '../../src/db/task-counters';
import { startSimulator, type RunningSimulator } from '../../src/gateway/simulator';
import { newId } from '../../src/db/ids';
import type { RunningWorker } from '../../workers';
import { startCallbackProcessWorker } from '../../workers/callback-process.worker';
import { createTenant, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { waitFor } from '../helpers/wait';
import { startWorkers, stopWorkers, taskApi, targets } from '../sending/helpers';

const SECRET = 'reconcile-callback-secret';
const AFTER_SECONDS = 60;
let env: TestEnv;
let sim: RunningSimulator;
let t: TestTenant;
let workers: RunningWorker[] = [];

beforeAll(async () => {
  sim = await startSimulator({ callbackSecret: SECRET, autoLogin: false, callbackQueue: { retryBaseMs: 20 } });
  env = await createTestEnv('reconcile', { api: true, env: { GATEWAY_URL: sim.url, GATEWAY_CALLBACK_SECRET: SECRET, RECONCILE_AFTER_SECONDS: String(AFTER_SECONDS) } });
  sim.callbacks.setUrl(`${env.url}/callbacks/gateway`);
  t = await createTenant(env);
  workers = [...startWorkers(env), startCallbackProcessWorker(env.ctx, { handlers: defaultCallbackHandlers() })];
}, 60_000);
afterAll(async () => {
  await stopWorkers(workers);
  await sim.close();
  await env.close();
});

async function onlineAccount(): Promise<{ id: string; guid: string }> {
  const { guid } = sim.control.createInstance('reconcile');
  await sim.control.startLogin(guid);
  sim.control.scan(guid);
  sim.control.confirm(guid);
  const id = newId();
  await env.ctx.db('wework_accounts').insert({ id, tenant_id: t.tenantId, account_name: `acc-${id.slice(-8)}`, guid, status: 'online' });
  return { id, guid };
}

test('the reconciliation job is scheduled', () => {
  expect(CRON_JOBS).toContain(messageReconcileJob);
});

test('messages whose receipt callbacks were dropped are asked about and end delivered or failed; counters match the ledger; a second run changes nothing', async () => {
  sim.control.configure({ receipt_drop_rate: 0.5, receipt_failure_rate: 0.2, receipt_delay_ms: 10 });
  const a = await onlineAccount();
  const total = 200;
  const tasks = taskApi(env, t);
  const id = await tasks.create({ account_ids: [a.id], targets: targets(total) });
  await tasks.start(id);
  await tasks.waitForStatus(id, 'completed', 60_000);
  // Every receipt is decided at the simulator, and every one it did call back is applied.
  await waitFor(() => sim.control.stats(), 'every receipt decided at the simulator', { until: (s) => s.pending_receipts === 0 });
  await sim.callbacks.drained(10_000);
  const withheld = sim.control.counters.receipts_withheld;
  expect(withheld).toBeGreaterThan(0);
  await waitFor(async () => (await tasks.statusCounts(id)).sent ?? 0, 'the called-back receipts applied, the withheld ones still sent', { until: (n) => n === withheld });

  // Younger than RECONCILE_AFTER_SECONDS: not asked yet.
  expect(await reconcileMessages(env.ctx, new Date())).toMatchObject({ asked: 0 });

  const later = new Date(Date.now() + (AFTER_SECONDS + 5) * 1000);
  const run = await reconcileMessages(env.ctx, later);
  expect(run).toMatchObject({ asked: withheld, still_sent: 0, unknown: 0, gateway_errors: 0 });
  expect(run.delivered + run.failed).toBe(withheld);

  const counts = await tasks.statusCounts(id);
  expect(counts.sent ?? 0).toBe(0);
  expect((counts.delivered ?? 0) + (counts.failed ?? 0)).toBe(total);
  const ledger = sim.control.ledger.summary();
  expect(ledger).toMatchObject({ unique_keys: total, duplicate_deliveries: 0 });
  const c = await taskCounts(env.ctx.db, id);
  expect(c).toMatchObject({ sent: total, delivered: counts.delivered ?? 0, failed: counts.failed ?? 0, success: total - (counts.failed ?? 0) });

  // Run again (and a late receipt for a reconciled message would be a duplicate too): nothing moves.
  expect(await reconcileMessages(env.ctx, later)).toMatchObject({ asked: 0, delivered: 0, failed: 0 });
  expect(await taskCounts(env.ctx.db, id)).toEqual(c);
});

test('an id the gateway has no record of stays sent, to be asked again on the next run', async () => {
  const a = await onlineAccount();
  const msgId = newId();
  await env.ctx.db('messages').insert({
    id: msgId, tenant_id: t.tenantId, account_id: a.id, conversation_id: 'c-x', message_type: 'text', content: JSON.stringify({ text: 'x' }),
    status: 'sent', wework_msg_id: 'sim-msg-never-sent-here', send_time: new Date(),
  });
  try {
    // The gateway never delivered this id: it answers unknown, and the message stays sent.
    const run = await reconcileMessages(env.ctx, new Date(Date.now() + (AFTER_SECONDS + 5) * 1000));
    expect(run).toMatchObject({ unknown: 1, delivered: 0, failed: 0 });
    expect((await env.ctx.db('messages').where({ id: msgId }).first()).status).toBe('sent');
  } finally {
    // The job looks at every tenant's messages: a row left sent would be asked about by the other test
    // (jest --randomize may run it next).
    await env.ctx.db('messages').where({ id: msgId }).delete();
  }
});
