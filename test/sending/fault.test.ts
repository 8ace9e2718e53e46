import { PassThrough, Readable } from 'node:stream';
import { newId } from '../../src/db/ids';
import { expandTask } from '../../src/sending/expand';
import { createTenant, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { PROCESS_TEST_TIMEOUT_MS, spawnRole, type SpawnedRole } from '../helpers/processes';
import { sleep, waitFor, within } from '../helpers/wait';
import { createSendingEnv, onlineAccount, targets, type SendingEnv } from './helpers';

let env: SendingEnv;
let t: TestTenant;
beforeAll(async () => {
  env = await createSendingEnv('fault');
  t = await createTenant(env);
});
afterAll(() => env.close());

const api = (p: string) => `${env.url}/api/v1${p}`;

/** The expand and send workers in a child process (test/sending/worker-child.ts) on this file's database, Redis prefix and simulator. */
async function spawnWorker(): Promise<SpawnedRole> {
  const worker = spawnRole({ script: 'test/sending/worker-child.ts', config: env.config, env: { SIMULATOR_PORT: String(new URL(env.sim.url).port) } });
  await worker.waitForOutput(/ready/, 'the worker child to start');
  return worker;
}

test('a worker killed with SIGKILL mid-task: after a restart every target is delivered exactly once', async () => {
  env.sim.control.reset({ latency_ms: 2 });
  const a1 = await onlineAccount(env, t.tenantId);
  const a2 = await onlineAccount(env, t.tenantId);
  const total = 3000;
  const res = await http('POST', api('/tasks'), {
    token: t.adminToken,
    body: { name: 'fault', account_ids: [a1.id, a2.id], content: { type: 'text', text: 'hi' }, target_type: 'manual', targets: targets(total), send_strategy: { rate_per_minute: 0 } },
  });
  const id = res.body.id;
  let worker = await spawnWorker();
  await http('POST', api(`/tasks/${id}/start`), { token: t.adminToken });
  await waitFor(() => env.sim.control.ledger.summary().unique_keys >= 300, 'sends under way', 60_000);

  // Make sure the kill lands between a delivery and its record: lock the rows claimed right now, so the
  // status writer cannot record their results while the worker keeps sending them.
  const lock = await env.ctx.db.transaction();
  let deliveredUnrecorded: string[] = [];
  try {
    const locked = (await lock('messages').where({ batch_id: id, status: 'sending' }).forUpdate().pluck('id')) as string[];
    expect(locked.length).toBeGreaterThan(0);
    await waitFor(() => locked.some((m) => env.sim.control.ledger.deliveriesOf(m) > 0), 'a claimed message delivered while its record is blocked', 30_000);
    await worker.kill();
    // Requests already on the wire when the worker died still land at the simulator: wait until none is.
    await waitFor(() => env.sim.activeRequests === 0, 'the requests of the killed worker to end at the simulator');
  } finally {
    await lock.rollback();
  }
  const atKill = env.sim.control.ledger.summary().unique_keys;
  expect(atKill).toBeLessThan(total); // killed mid-task
  const orphans = (await env.ctx.db('messages').where({ batch_id: id, status: 'sending' }).pluck('id')) as string[];
  deliveredUnrecorded = orphans.filter((m) => env.sim.control.ledger.deliveriesOf(m) > 0);
  expect(orphans.length).toBeGreaterThan(0); // left in `sending` by the killed worker
  expect(deliveredUnrecorded.length).toBeGreaterThan(0); // … some of them already delivered

  worker = await spawnWorker();
  try {
    const done = await waitFor(async () => (await http('GET', api(`/tasks/${id}`), { token: t.adminToken })).body, 'completion after the restart', {
      timeoutMs: 90_000,
      until: (x) => x.status === 'completed',
    });
    expect(done).toMatchObject({ total_count: total, sent_count: total, success_count: total, failed_count: 0 });
  } finally {
    await within(worker.kill(), 'the restarted worker to die');
  }
  const ledger = env.sim.control.ledger.summary();
  expect(ledger.unique_keys).toBe(total); // 0 lost
  expect(ledger.duplicate_deliveries).toBe(0); // 0 duplicated
  expect(ledger.total_deliveries).toBe(total);
  const ids = (await env.ctx.db('messages').where({ batch_id: id, status: 'sent' }).pluck('id')) as string[];
  expect(ids).toHaveLength(total);
  for (const m of ids) expect(env.sim.control.ledger.deliveriesOf(m)).toBe(1);
  // The orphans were re-sent with their own key: the gateway recognised each delivered one instead of delivering it again.
  expect(ledger.duplicate_requests).toBeGreaterThanOrEqual(deliveredUnrecorded.length);
  const resent = new Set(env.sim.sends.filter((x) => x.outcome === 'duplicate').map((x) => x.key));
  for (const m of deliveredUnrecorded) expect(resent.has(m)).toBe(true);
}, PROCESS_TEST_TIMEOUT_MS);

test('expansion interrupted mid-file resumes from its cursor: no target lost or doubled', async () => {
  const a = await onlineAccount(env, t.tenantId);
  const lines = ['conversation_id,n', ...Array.from({ length: 2500 }, (_, i) => `c${i},${i}`), 'c7,dup'];
  const csv = lines.join('\n');
  const fileId = newId();
  const key = `tenants/${t.tenantId}/import/${fileId}.csv`;
  await env.ctx.storage.put(key, Readable.from([Buffer.from(csv)]), { contentType: 'text/csv' });
  await env.ctx.db('files').insert({ id: fileId, tenant_id: t.tenantId, purpose: 'import', object_key: key, file_name: 'x.csv', content_type: 'text/csv', size_bytes: csv.length });
  const res = await http('POST', api('/tasks'), {
    token: t.adminToken,
    body: { name: 'resume', account_ids: [a.id], content: { type: 'text', text: '#{{n}}' }, target_type: 'import', file_id: fileId },
  });
  const id = res.body.id;
  // Started by hand (no workers in this file), then expanded with a storage stream that breaks mid-file.
  await env.ctx.db('batch_send_tasks').where({ id }).update({ status: 'paused', start_time: new Date() });
  const realGet = env.ctx.storage.get.bind(env.ctx.storage);
  let breaker: Promise<void> = Promise.resolve();
  env.ctx.storage.get = async () => {
    const broken = new PassThrough();
    broken.write(csv.slice(0, Math.floor(csv.length * 0.6)));
    // The connection breaks once a chunk of the first part is committed, whatever the expansion's pace
    // (it yields the event loop while parsing, so a break on the next turn came before any commit).
    breaker = (async () => {
      while (!broken.destroyed && !(await env.ctx.db('batch_send_tasks').where({ id }).first()).expansion_cursor) await sleep(20);
      broken.destroy(new Error('connection reset'));
    })();
    return broken;
  };
  await expect(expandTask(env.ctx, id, { chunkSize: 300 })).rejects.toThrow('connection reset');
  await breaker;
  const mid = await env.ctx.db('batch_send_tasks').where({ id }).first();
  expect(mid.expansion_done).toBe(0);
  expect(mid.expansion_cursor).toBeGreaterThan(0);
  expect(mid.expansion_cursor % 300).toBe(0);
  expect(Number((await env.ctx.db('messages').where({ batch_id: id }).count({ n: '*' }).first())!.n)).toBe(mid.total_count);

  env.ctx.storage.get = realGet;
  expect(await expandTask(env.ctx, id, { chunkSize: 300 })).toBe('done');
  const after = await env.ctx.db('batch_send_tasks').where({ id }).first();
  expect(after).toMatchObject({ expansion_done: 1, total_count: 2500, skipped_count: 1, expansion_cursor: 2501 });
  const rows = await env.ctx.db('messages').select('conversation_id').where({ batch_id: id });
  expect(rows).toHaveLength(2500);
  expect(new Set(rows.map((r: any) => r.conversation_id)).size).toBe(2500);
  // Running it again changes nothing.
  await env.ctx.db('batch_send_tasks').where({ id }).update({ expansion_done: 0, expansion_cursor: 0 });
  await expandTask(env.ctx, id, { chunkSize: 1000 });
  expect(Number((await env.ctx.db('messages').where({ batch_id: id }).count({ n: '*' }).first())!.n)).toBe(2500);
  await http('POST', api(`/tasks/${id}/cancel`), { token: t.adminToken });
});
