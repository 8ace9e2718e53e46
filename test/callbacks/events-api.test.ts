import { NOTIFY } from '../../src/gateway/callback-protocol';
import { Worker } from 'bullmq';
import { QUEUE } from '../../src/queues/names';
import { createRedis } from '../../src/redis';
import { createTenant, createTestEnv, createUserWithRole, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { callback, insertAccount, postCallback } from './support';

let env: TestEnv;
let a: TestTenant;
let b: TestTenant;
let guidA: string;
let guidB: string;
const idsA: string[] = [];
let idB: string;

beforeAll(async () => {
  env = await createTestEnv('cbevents', { api: true });
  a = await createTenant(env);
  b = await createTenant(env);
  guidA = (await insertAccount(env, a.tenantId)).guid;
  guidB = (await insertAccount(env, b.tenantId)).guid;
  for (const n of [NOTIFY.online, NOTIFY.messages, NOTIFY.friendRequest, NOTIFY.messages, NOTIFY.offline]) {
    idsA.push((await postCallback(env, callback(guidA, n, { n }))).body.id);
  }
  idB = (await postCallback(env, callback(guidB, NOTIFY.online, {}))).body.id;
});
afterAll(() => env.close());

const list = (t: TestTenant, qs = '') => http('GET', `${env.url}/api/v1/callbacks/events${qs}`, { token: t.adminToken });

test("a tenant lists only its own events, newest first, and cannot read another tenant's", async () => {
  const res = await list(a);
  expect(res.status).toBe(200);
  expect(res.body.data.map((e: { id: string }) => e.id)).toEqual([...idsA].reverse());
  expect(res.body.data[0]).toMatchObject({ guid: guidA, notify_type: NOTIFY.offline, event_type: 'account.offline', status: 'received', retry_count: 0 });
  expect(res.body.data[0].raw_data).toBeUndefined();

  const other = await list(b);
  expect(other.body.data.map((e: { id: string }) => e.id)).toEqual([idB]);

  const detail = await http('GET', `${env.url}/api/v1/callbacks/events/${idsA[0]}`, { token: a.adminToken });
  expect(detail.status).toBe(200);
  expect(JSON.parse(detail.body.raw_data)).toMatchObject({ guid: guidA, notify_type: NOTIFY.online });
  const cross = await http('GET', `${env.url}/api/v1/callbacks/events/${idB}`, { token: a.adminToken });
  expect(cross.status).toBe(404);
  const crossRedrive = await http('POST', `${env.url}/api/v1/callbacks/events/${idB}/redrive`, { token: a.adminToken });
  expect(crossRedrive.status).toBe(404);
});

test('filters by notify_type, guid, status and time, and pages with a cursor', async () => {
  const msgs = await list(a, `?notify_type=${NOTIFY.messages}`);
  expect(msgs.body.data.map((e: { id: string }) => e.id)).toEqual([idsA[3], idsA[1]]);
  expect((await list(a, `?guid=${guidB}`)).body.data).toEqual([]);
  expect((await list(a, '?status=processed')).body.data).toEqual([]);
  expect((await list(a, `?from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).body.data).toEqual([]);
  expect((await list(a, `?to=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).body.data).toHaveLength(5);

  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { body: { data: Array<{ id: string }>; next_cursor: string | null } } = await list(a, `?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
    expect(page.body.data.length).toBeLessThanOrEqual(2);
    seen.push(...page.body.data.map((e) => e.id));
    cursor = page.body.next_cursor;
  } while (cursor);
  expect(seen).toEqual([...idsA].reverse());
});

test('bad filters answer 400 naming the field', async () => {
  const res = await list(a, '?status=weird&limit=0');
  expect(res.status).toBe(400);
  const fields = res.body.error.details.fields.map((f: { field: string }) => f.field);
  expect(fields).toEqual(expect.arrayContaining(['query.status', 'query.limit']));
  expect((await list(a, '?cursor=garbage')).status).toBe(400);
});

test('a viewer may read events but not re-drive them', async () => {
  const viewer = await createUserWithRole(env, a, 'viewer');
  expect((await http('GET', `${env.url}/api/v1/callbacks/events`, { token: viewer.token })).status).toBe(200);
  const res = await http('POST', `${env.url}/api/v1/callbacks/events/redrive`, { token: viewer.token, body: {} });
  expect(res.status).toBe(403);
});

test('only failed events can be re-driven; bulk re-drive takes the failed ones of this tenant only', async () => {
  const notFailed = await http('POST', `${env.url}/api/v1/callbacks/events/${idsA[0]}/redrive`, { token: a.adminToken });
  expect(notFailed.status).toBe(409);
  expect(notFailed.body.error.details.current_state).toBe('received');

  await env.ctx.db('callback_events').whereIn('id', [idsA[1], idsA[3], idB]).update({ status: 'failed', error_message: 'boom', retry_count: 5 });
  const queue = env.ctx.queues.get(QUEUE.callbackProcess);
  // A finished per-event job under the same id must not swallow the re-drive: make one, by taking and
  // completing every queued job by hand (BullMQ's manual processing; no worker runs in this file).
  await queue.add('process', { id: idsA[3] }, { jobId: idsA[3] });
  // BullMQ leaves a connection it was handed open on close: this file quits it (it kept the jest worker alive).
  const manualRedis = createRedis(env.config.redis, 'blocking');
  const manual = new Worker(QUEUE.callbackProcess, null, { connection: manualRedis, prefix: env.config.redis.prefix });
  for (let job = await manual.getNextJob('tok'); job; job = await manual.getNextJob('tok')) await job.moveToCompleted('done', 'tok', false);
  await manual.close();
  await manualRedis.quit();
  expect(await (await queue.getJob(idsA[3]))!.getState()).toBe('completed');

  const res = await http('POST', `${env.url}/api/v1/callbacks/events/redrive`, { token: a.adminToken, body: { notify_type: NOTIFY.messages } });
  expect(res.status).toBe(202);
  expect(res.body.redriven).toBe(2);
  expect(res.body.ids.sort()).toEqual([idsA[1], idsA[3]].sort());
  const rows = await env.ctx.db('callback_events').whereIn('id', [idsA[1], idsA[3], idB]).select('id', 'status');
  expect(Object.fromEntries(rows.map((r: { id: string; status: string }) => [r.id, r.status]))).toEqual({ [idsA[1]]: 'received', [idsA[3]]: 'received', [idB]: 'failed' });
  for (const id of [idsA[1], idsA[3]]) expect(['waiting', 'prioritized']).toContain(await (await queue.getJob(id))!.getState());

  const audit = await env.ctx.db('audit_logs').where({ action: 'callback_event.redrive_bulk', tenant_id: a.tenantId }).first();
  expect(audit).toBeTruthy();
  const again = await http('POST', `${env.url}/api/v1/callbacks/events/redrive`, { token: a.adminToken, body: { ids: [idB] } });
  expect(again.body).toEqual({ redriven: 0, ids: [] });
  expect((await http('POST', `${env.url}/api/v1/callbacks/events/redrive`, { token: a.adminToken, body: { limit: 0 } })).status).toBe(400);
});

test('every callback route is described in the OpenAPI document', async () => {
  const doc = (await http('GET', `${env.url}/openapi.json`)).body;
  expect(Object.keys(doc.paths)).toEqual(
    expect.arrayContaining([
      '/callbacks/gateway',
      '/callbacks/wecom/{tenantId}',
      '/api/v1/callbacks/events',
      '/api/v1/callbacks/events/{id}',
      '/api/v1/callbacks/events/{id}/redrive',
      '/api/v1/callbacks/events/redrive',
      '/api/v1/callbacks/wecom/config',
    ]),
  );
  expect(Object.keys(doc.paths['/callbacks/wecom/{tenantId}'])).toEqual(expect.arrayContaining(['get', 'post']));
  expect(Object.keys(doc.paths['/api/v1/callbacks/wecom/config'])).toEqual(expect.arrayContaining(['get', 'put', 'delete']));
});
