import type { RunningWorker } from '../../workers';
import { createTenant, type TestTenant } from '../helpers/env';
import { PROCESS_TEST_TIMEOUT_MS } from '../helpers/processes';
import { waitFor } from '../helpers/wait';
import { startWorkers, stopWorkers, targets, taskApi } from '../sending/helpers';
import { createWechatyAccount, loginByScan, startWechatyEnv, type WechatyEnv } from './wechaty-support';

/**
 * Batch sends end to end on the `wechaty` channel: a task created and started through the API, expanded
 * and sent by the platform's workers, through the gateway-wechaty process, to a real PuppetServer whose
 * mock records every message it receives. That record lives in the peer process, which outlives the
 * gateway: it is the independent ledger the database is checked against.
 */
jest.setTimeout(PROCESS_TEST_TIMEOUT_MS);

const TARGETS = 500;
let w: WechatyEnv;
let t: TestTenant;
let workers: RunningWorker[] = [];

beforeAll(async () => {
  w = await startWechatyEnv('wxtask');
  t = await createTenant(w.a.env, { maxAccounts: 5 });
  workers = startWorkers(w.a.env);
}, PROCESS_TEST_TIMEOUT_MS);
afterAll(async () => {
  await stopWorkers(workers);
  await w?.close();
});

async function onlineWechatyAccount(token: string) {
  const acct = await createWechatyAccount(w, t, token);
  await loginByScan(w, t, acct, token);
  return acct;
}

async function messagesOf(taskId: string): Promise<Array<{ conversation_id: string; status: string; wework_msg_id: string | null }>> {
  return w.a.env.ctx.db('messages').select('conversation_id', 'status', 'wework_msg_id').where({ batch_id: taskId });
}

test(`a ${TARGETS}-target task on a wechaty account completes; the provider received exactly the targets, once each`, async () => {
  const token = 'insecure_wx_task_token_T1';
  const acct = await onlineWechatyAccount(token);
  const tasks = taskApi(w.a.env, t);
  const list = targets(TARGETS, 'wx-t1');
  const id = await tasks.create({ account_ids: [acct.id], targets: list, content: { type: 'text', text: 'hello from the task' } });
  await tasks.start(id);
  const done = await tasks.waitForStatus(id, 'completed', 120_000);

  const received = (await w.peer.sent(token)).filter((s) => s.text === 'hello from the task');
  expect(received.map((s) => s.conversation_id).sort()).toEqual(list.map((x) => x.conversation_id).sort());
  const rows = await messagesOf(id);
  expect(rows.every((r) => r.status === 'sent')).toBe(true);
  // Each message carries the id the provider gave it.
  const providerIdOf = new Map(received.map((s) => [s.conversation_id, s.message_id]));
  expect(rows.filter((r) => r.wework_msg_id !== providerIdOf.get(r.conversation_id))).toEqual([]);
  expect(done).toMatchObject({ total_count: TARGETS, sent_count: TARGETS, failed_count: 0, unknown_count: 0 });
});

test('SIGKILL of the gateway mid-task: nothing received twice, the sends in flight counted unknown, the rest delivered', async () => {
  const token = 'insecure_wx_task_token_K2';
  const acct = await onlineWechatyAccount(token);
  const tasks = taskApi(w.a.env, t);
  const list = targets(TARGETS, 'wx-k2');
  const id = await tasks.create({ account_ids: [acct.id], targets: list, content: { type: 'text', text: 'hello before and after the kill' } });
  await tasks.start(id);
  const sentByMock = async () => (await w.peer.sent(token)).filter((s) => s.text === 'hello before and after the kill');
  await waitFor(async () => (await sentByMock()).length, 'sends under way', { timeoutMs: 60_000, until: (n) => n >= 100 });

  // The next send reaches the provider and waits there: the gateway dies with it in flight.
  await w.peer.holdSends(token);
  await waitFor(async () => (await w.peer.state(token)).held, 'a send held at the provider', { timeoutMs: 30_000, until: (n) => n >= 1 });
  expect(await w.gateway.kill()).toMatchObject({ signal: 'SIGKILL' });
  // The provider completes them after the gateway is gone: they went out, and nobody recorded that they
  // did. (The sender keeps a few sends of an account in flight.)
  const held = await w.peer.releaseSends(token);
  expect(held).toBeGreaterThanOrEqual(1);
  const afterKill = await sentByMock();
  const atKill = afterKill.length;
  expect(atKill).toBeLessThan(TARGETS);
  const inDoubt = afterKill.slice(-held).map((s) => s.conversation_id);

  await w.restartGateway();
  const done = await waitFor(() => tasks.get(id), 'the task to end', { timeoutMs: 150_000, until: (x) => ['completed', 'paused', 'failed', 'cancelled'].includes(x?.status) });
  const errors = await w.a.env.ctx.db('messages').select('status', 'error_code').count({ n: '*' }).where({ batch_id: id }).groupBy('status', 'error_code');
  expect(JSON.stringify({ status: done.status, task: done, errors })).toContain('"status":"completed"');

  const received = (await sentByMock()).map((s) => s.conversation_id);
  // Never twice, and nothing but the targets.
  expect(received.length).toBe(new Set(received).size);
  const targetIds = new Set(list.map((x) => x.conversation_id));
  expect(received.filter((c) => !targetIds.has(c))).toEqual([]);

  const rows = await messagesOf(id);
  const byStatus = (s: string) => rows.filter((r) => r.status === s).map((r) => r.conversation_id);
  const unknown = byStatus('unknown');
  const sent = byStatus('sent');
  // The sends in flight at the kill are in doubt: not repeated, counted unknown (the mock did get them).
  expect(unknown).toEqual(expect.arrayContaining(inDoubt));
  expect(sent.length + unknown.length).toBe(TARGETS);
  // Everything the database calls sent, the provider received; what it received is sent or in doubt.
  const receivedSet = new Set(received);
  expect(sent.filter((c) => !receivedSet.has(c))).toEqual([]);
  const doubtful = new Set(unknown);
  expect(received.filter((c) => !doubtful.has(c)).length).toBe(sent.length);
  expect(done).toMatchObject({ total_count: TARGETS, failed_count: 0, unknown_count: unknown.length });
  // Only what was in doubt at the kill: the sends after the restart went out and were recorded.
  expect(unknown.length).toBeLessThan(TARGETS - atKill + held);
});
