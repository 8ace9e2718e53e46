import { Readable } from 'node:stream';
import { io as ioClient, type Socket } from 'socket.io-client';
import { newId } from '../../src/db/ids';
import { localTime } from '../../src/domain/throttle';
import { kickAccounts } from '../../src/sending/kicks';
import type { RunningWorker } from '../../workers';
import { createTenant, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { createSendingEnv, onlineAccount, startWorkers, stopWorkers, targets, waitFor, type SendingEnv } from './helpers';

let env: SendingEnv;
let t: TestTenant;
let workers: RunningWorker[];
beforeAll(async () => {
  env = await createSendingEnv('pipeline');
  t = await createTenant(env);
  workers = startWorkers(env);
});
afterAll(async () => {
  await stopWorkers(workers);
  await env.close();
});
beforeEach(() => env.sim.control.reset({}));

const api = (p: string) => `${env.url}/api/v1${p}`;
const task = async (id: string, tenant = t) => (await http('GET', api(`/tasks/${id}`), { token: tenant.adminToken })).body;
const statusCounts = async (taskId: string) => {
  const rows = await env.ctx.db('messages').select('status').count({ n: '*' }).where({ batch_id: taskId }).groupBy('status');
  return Object.fromEntries(rows.map((r: any) => [r.status, Number(r.n)]));
};

async function createTask(body: Record<string, unknown>, tenant = t): Promise<string> {
  const res = await http('POST', api('/tasks'), {
    token: tenant.adminToken,
    body: { name: `task-${newId().slice(-6)}`, target_type: 'manual', content: { type: 'text', text: 'hello' }, send_strategy: { rate_per_minute: 0 }, ...body },
  });
  if (res.status !== 201) throw new Error(JSON.stringify(res.body));
  return res.body.id;
}
const start = (id: string, tenant = t) => http('POST', api(`/tasks/${id}/start`), { token: tenant.adminToken });
const until = (id: string, status: string, tenant = t) =>
  waitFor(async () => {
    const x = await task(id, tenant);
    return x.status === status ? x : null;
  }, `task ${status}`);

test('pause stops sending, resume finishes; cancel marks unsent messages cancelled; counters exact', async () => {
  const a = await onlineAccount(env, t.tenantId);
  const id = await createTask({ account_ids: [a.id], targets: targets(40), send_strategy: { rate_per_minute: 600, jitter: 0 } });
  await start(id);
  await waitFor(async () => env.sim.control.ledger.summary().unique_keys >= 5, 'first sends');
  const paused = await http('POST', api(`/tasks/${id}/pause`), { token: t.adminToken });
  expect(paused.body.status).toBe('paused');
  // In-flight sends (claimed before the pause) finish; then nothing more goes out.
  await waitFor(async () => !(await statusCounts(id)).sending, 'in-flight sends to settle');
  const sentAtPause = env.sim.control.ledger.summary().unique_keys;
  await new Promise((r) => setTimeout(r, 1500));
  expect(env.sim.control.ledger.summary().unique_keys).toBe(sentAtPause);
  expect(sentAtPause).toBeLessThan(40);
  expect((await http('POST', api(`/tasks/${id}/pause`), { token: t.adminToken })).status).toBe(409);
  expect((await http('POST', api(`/tasks/${id}/resume`), { token: t.adminToken })).body.status).toBe('running');
  const done = await until(id, 'completed');
  expect(done).toMatchObject({ total_count: 40, sent_count: 40, success_count: 40 });
  expect(env.sim.control.ledger.summary()).toMatchObject({ unique_keys: 40, duplicate_deliveries: 0 });

  const b = await onlineAccount(env, t.tenantId);
  const id2 = await createTask({ account_ids: [b.id], targets: targets(60), send_strategy: { rate_per_minute: 600, jitter: 0 } });
  await start(id2);
  await waitFor(async () => (await statusCounts(id2)).sent >= 3, 'some sends');
  const cancelled = await http('POST', api(`/tasks/${id2}/cancel`), { token: t.adminToken });
  expect(cancelled.body.status).toBe('cancelled');
  await waitFor(async () => !(await statusCounts(id2)).sending && !(await statusCounts(id2)).pending, 'cancel to settle');
  const counts = await statusCounts(id2);
  const final = await task(id2);
  expect(counts.sent + counts.cancelled).toBe(60);
  expect(final).toMatchObject({ status: 'cancelled', total_count: 60, sent_count: counts.sent, cancelled_count: counts.cancelled });
  const delivered = (await env.ctx.db('messages').where({ batch_id: id2, status: 'sent' }).pluck('id')) as string[];
  for (const m of delivered) expect(env.sim.control.ledger.deliveriesOf(m)).toBe(1);
  const cancelledIds = (await env.ctx.db('messages').where({ batch_id: id2, status: 'cancelled' }).pluck('id')) as string[];
  for (const m of cancelledIds) expect(env.sim.control.ledger.deliveriesOf(m)).toBe(0);
  expect((await http('POST', api(`/tasks/${id2}/resume`), { token: t.adminToken })).status).toBe(409);
});

test('retryable failures and lost acknowledgements: retried with the same key, delivered exactly once', async () => {
  env.sim.control.configure({ failure_rate: 0.3, ack_loss_rate: 0.2 });
  const a = await onlineAccount(env, t.tenantId);
  const id = await createTask({
    account_ids: [a.id],
    targets: targets(50),
    send_strategy: { rate_per_minute: 0, retry: { max_attempts: 10, backoff_ms: 100, backoff: 'fixed' }, error_threshold: 0 },
  });
  await start(id);
  const done = await until(id, 'completed');
  expect(done).toMatchObject({ total_count: 50, sent_count: 50, success_count: 50, failed_count: 0 });
  const ledger = env.sim.control.ledger.summary();
  expect(ledger.unique_keys).toBe(50);
  expect(ledger.duplicate_deliveries).toBe(0);
  expect(ledger.duplicate_requests).toBeGreaterThan(0); // acks were lost and the retry was recognised
  const retried = await env.ctx.db('messages').where({ batch_id: id }).andWhere('retry_count', '>', 0).count({ n: '*' }).first();
  expect(Number(retried!.n)).toBeGreaterThan(0);
});

test('permanent failures fail the message with the gateway code; retries exhaust into failed', async () => {
  env.sim.control.configure({ permanent_targets: ['conv-1', 'conv-2'] });
  const a = await onlineAccount(env, t.tenantId);
  const id = await createTask({ account_ids: [a.id], targets: targets(10) });
  await start(id);
  const done = await until(id, 'completed');
  expect(done).toMatchObject({ total_count: 10, sent_count: 10, success_count: 8, failed_count: 2 });
  const failed = await env.ctx.db('messages').where({ batch_id: id, status: 'failed' }).orderBy('conversation_id');
  expect(failed.map((m: any) => [m.conversation_id, m.error_code])).toEqual([
    ['conv-1', 'target_not_found'],
    ['conv-2', 'target_not_found'],
  ]);
  expect(failed[0].error_message).toContain('does not exist');

  env.sim.control.configure({ permanent_targets: [], failure_rate: 1 });
  const id2 = await createTask({ account_ids: [a.id], targets: targets(2, 'x'), send_strategy: { rate_per_minute: 0, retry: { max_attempts: 2, backoff_ms: 100, backoff: 'fixed' }, error_threshold: 0 } });
  await start(id2);
  const failedTask = await until(id2, 'failed');
  expect(failedTask).toMatchObject({ total_count: 2, failed_count: 2, success_count: 0 });
  const rows = await env.ctx.db('messages').where({ batch_id: id2 });
  for (const r of rows) expect(r).toMatchObject({ status: 'failed', error_code: 'gateway_busy', retry_count: 2 });
});

test('error threshold pauses the task with the reason and a task.status event', async () => {
  env.sim.control.configure({ permanent_targets: targets(30, 'bad').map((x) => x.conversation_id) });
  const a = await onlineAccount(env, t.tenantId);
  const socket = await connect(t.adminToken);
  const events: any[] = [];
  socket.on('task.status', (e) => events.push(e));
  try {
    const id = await createTask({ account_ids: [a.id], targets: targets(30, 'bad'), send_strategy: { rate_per_minute: 600, jitter: 0, error_threshold: 3 } });
    await start(id);
    const paused = await until(id, 'paused');
    expect(paused.error_message).toMatch(/paused after \d+ consecutive send errors \(last: target_not_found/);
    expect(paused.failed_count).toBeGreaterThanOrEqual(3);
    expect(paused.failed_count).toBeLessThan(30);
    await waitFor(async () => events.find((e) => e.task_id === id && e.status === 'paused' && e.reason === 'error_threshold'), 'paused event');
  } finally {
    socket.disconnect();
  }
});

test('an offline account makes its messages wait, then they go once it is back', async () => {
  const a = await onlineAccount(env, t.tenantId);
  env.sim.control.kick(a.guid, 'network', false);
  const id = await createTask({ account_ids: [a.id], targets: targets(5) });
  await start(id);
  await waitFor(async () => (await task(id)).expansion_done, 'expansion');
  await new Promise((r) => setTimeout(r, 1500));
  expect(await statusCounts(id)).toEqual({ pending: 5 });
  // The account state machine notices too; the sender skips accounts that are not online.
  await env.ctx.db('wework_accounts').where({ id: a.id }).update({ status: 'offline' });
  await env.sim.control.startLogin(a.guid);
  env.sim.control.scan(a.guid);
  env.sim.control.confirm(a.guid);
  await new Promise((r) => setTimeout(r, 800));
  expect(await statusCounts(id)).toEqual({ pending: 5 });
  await env.ctx.db('wework_accounts').where({ id: a.id }).update({ status: 'online' });
  const done = await until(id, 'completed');
  expect(done).toMatchObject({ sent_count: 5, success_count: 5, failed_count: 0 });
});

test('sending window in the tenant time zone: outside it messages wait', async () => {
  const tz = await createTenant(env, { timezone: 'America/New_York' });
  const a = await onlineAccount(env, tz.tenantId);
  const now = localTime(new Date(), 'America/New_York').minutes;
  const hhmm = (m: number) => `${String(Math.floor((((m % 1440) + 1440) % 1440) / 60)).padStart(2, '0')}:${String((((m % 1440) + 1440) % 1440) % 60).padStart(2, '0')}`;
  const closed = { start: hhmm(now + 120), end: hhmm(now + 180) };
  const id = await createTask({ account_ids: [a.id], targets: targets(4), send_strategy: { rate_per_minute: 0, window: closed } }, tz);
  await start(id, tz);
  await waitFor(async () => (await task(id, tz)).expansion_done, 'expansion');
  await new Promise((r) => setTimeout(r, 1500));
  expect(await statusCounts(id)).toEqual({ pending: 4 });
  // Time passes: the window is now open (same hours, shifted to include now).
  await env.ctx.db('batch_send_tasks').where({ id }).update({ send_strategy: JSON.stringify({ rate_per_minute: 0, jitter: 0, retry: { max_attempts: 3, backoff_ms: 1000, backoff: 'fixed' }, error_threshold: 5, window: { start: hhmm(now - 5), end: hhmm(now + 60) } }) });
  await env.ctx.redis.del(`${env.config.redis.prefix}:send:sleep:${a.id}`);
  const done = await until(id, 'completed', tz);
  expect(done.sent_count).toBe(4);
});

test('daily cap counts across tasks; reaching it makes sending wait, not fail', async () => {
  const capped = await createTenant(env, { maxDailyMessages: 7 });
  const a = await onlineAccount(env, capped.tenantId);
  const b = await onlineAccount(env, capped.tenantId);
  const id1 = await createTask({ account_ids: [a.id], targets: targets(5, 'p') }, capped);
  const id2 = await createTask({ account_ids: [b.id], targets: targets(5, 'q') }, capped);
  await start(id1, capped);
  await start(id2, capped);
  await waitFor(async () => (await task(id1, capped)).expansion_done && (await task(id2, capped)).expansion_done, 'expansion');
  await waitFor(async () => {
    const [c1, c2] = [await statusCounts(id1), await statusCounts(id2)];
    return (c1.sent ?? 0) + (c2.sent ?? 0) === 7 && !c1.sending && !c2.sending;
  }, '7 sends');
  await new Promise((r) => setTimeout(r, 1000));
  const [c1, c2] = [await statusCounts(id1), await statusCounts(id2)];
  expect((c1.sent ?? 0) + (c2.sent ?? 0)).toBe(7);
  expect((c1.pending ?? 0) + (c2.pending ?? 0)).toBe(3);
  expect((c1.failed ?? 0) + (c2.failed ?? 0)).toBe(0);
  // A task with waiting messages stays running (a task whose messages all went may have completed).
  for (const [id, c] of [[id1, c1], [id2, c2]] as const) if (c.pending) expect((await task(id, capped)).status).toBe('running');
  // Next day (or a raised cap): sending carries on.
  await env.ctx.db('tenants').where({ id: capped.tenantId }).update({ max_daily_messages: 100 });
  await kickAccounts(env.ctx, [a.id, b.id]);
  await until(id1, 'completed', capped);
  await until(id2, 'completed', capped);
});

test('CSV import: streamed, per-row variables, bad rows reported with line numbers, duplicates skipped', async () => {
  const a = await onlineAccount(env, t.tenantId);
  const csv = [
    'conversation_id,name,city',
    'c1,Ann,Paris',
    'c2,Bob', // wrong column count (line 3)
    ',Nobody,X', // empty conversation id (line 4)
    'c3,"Chris, Jr.",Rome',
    'c1,Dup,Again', // duplicate target
    'c4,,Oslo', // empty cell: the default applies
  ].join('\n');
  const fileId = newId();
  const key = `tenants/${t.tenantId}/import/${fileId}.csv`;
  await env.ctx.storage.put(key, Readable.from([Buffer.from(csv)]), { contentType: 'text/csv' });
  await env.ctx.db('files').insert({ id: fileId, tenant_id: t.tenantId, purpose: 'import', object_key: key, file_name: 't.csv', content_type: 'text/csv', size_bytes: csv.length });
  const tpl = await http('POST', api('/templates'), {
    token: t.adminToken,
    body: { name: `csv-${fileId.slice(-6)}`, content: { type: 'text', text: '{{name}} in {{city}}' }, variables: [{ name: 'name', default: 'guest' }, { name: 'city', required: true }] },
  });
  const id = await createTask({ account_ids: [a.id], target_type: 'import', file_id: fileId, template_id: tpl.body.id, content: undefined });
  await start(id);
  const done = await until(id, 'completed');
  expect(done).toMatchObject({ total_count: 3, sent_count: 3, skipped_count: 3 });
  expect(done.target_errors).toEqual([
    { line: 3, error: 'expected 3 columns, found 2' },
    { line: 4, error: 'conversation_id is empty' },
  ]);
  const texts = Object.fromEntries(
    (await env.ctx.db('messages').where({ batch_id: id })).map((m: any) => [m.conversation_id, (typeof m.content === 'string' ? JSON.parse(m.content) : m.content).text]),
  );
  expect(texts).toEqual({ c1: 'Ann in Paris', c3: 'Chris, Jr. in Rome', c4: 'guest in Oslo' });
});

test('single messages: POST /messages with priority and scheduled time go through the same pipeline', async () => {
  const a = await onlineAccount(env, t.tenantId);
  const now = await http('POST', api('/messages'), { token: t.adminToken, body: { account_id: a.id, conversation_id: 'solo', content: { type: 'text', text: 'hi {{n}}' }, variables: { n: 1 }, priority: 9 } });
  expect(now.status).toBe(202);
  expect(now.body).toMatchObject({ status: 'pending', priority: 9, content: { type: 'text', text: 'hi 1' } });
  const later = await http('POST', api('/messages'), {
    token: t.adminToken,
    body: { account_id: a.id, conversation_id: 'solo2', content: { type: 'text', text: 'later' }, scheduled_time: new Date(Date.now() + 2500).toISOString() },
  });
  const sent = await waitFor(async () => {
    const m = (await http('GET', api(`/messages/${now.body.id}`), { token: t.adminToken })).body;
    return m.status === 'sent' ? m : null;
  }, 'single message sent');
  expect(sent.wework_msg_id).toBeTruthy();
  expect((await http('GET', api(`/messages/${later.body.id}`), { token: t.adminToken })).body.status).toBe('pending');
  await waitFor(async () => (await http('GET', api(`/messages/${later.body.id}`), { token: t.adminToken })).body.status === 'sent', 'scheduled message sent');
  expect(env.sim.control.ledger.deliveriesOf(now.body.id)).toBe(1);
  const bad = await http('POST', api('/messages'), { token: t.adminToken, body: { account_id: a.id, conversation_id: 'x', content: { type: 'text', text: 'x' }, priority: 11 } });
  expect(bad.status).toBe(400);
  const other = await createTenant(env);
  expect((await http('GET', api(`/messages/${now.body.id}`), { token: other.adminToken })).status).toBe(404);
  const list = await http('GET', api(`/messages?account_id=${a.id}&status=sent`), { token: t.adminToken });
  expect(list.body.data.map((m: any) => m.id).sort()).toEqual([now.body.id, later.body.id].sort());
  const future = new Date(Date.now() + 3600_000).toISOString();
  expect((await http('GET', api(`/messages?account_id=${a.id}&from=${encodeURIComponent(future)}`), { token: t.adminToken })).body.data).toEqual([]);
  const window = await http('GET', api(`/messages?account_id=${a.id}&to=${encodeURIComponent(future)}&from=${encodeURIComponent(now.body.created_at)}`), { token: t.adminToken });
  expect(window.body.data).toHaveLength(2);
});

async function connect(token: string): Promise<Socket> {
  const socket = ioClient(env.url, { auth: { token }, transports: ['websocket'], reconnection: false });
  await new Promise<void>((resolve, reject) => {
    socket.on('connect', () => resolve());
    socket.on('connect_error', reject);
  });
  return socket;
}

test('socket clients receive progress and status only for their own tenant, coalesced', async () => {
  const other = await createTenant(env);
  const mine = await connect(t.adminToken);
  const theirs = await connect(other.adminToken);
  const mineEvents: any[] = [];
  const theirEvents: any[] = [];
  mine.onAny((name, payload) => mineEvents.push({ name, payload }));
  theirs.onAny((name, payload) => theirEvents.push({ name, payload }));
  try {
    const a = await onlineAccount(env, t.tenantId);
    const id = await createTask({ account_ids: [a.id], targets: targets(300) });
    await start(id);
    await until(id, 'completed');
    await waitFor(async () => mineEvents.find((e) => e.name === 'task.progress' && e.payload.task_id === id && e.payload.percent === 100), 'final progress');
    const progress = mineEvents.filter((e) => e.name === 'task.progress' && e.payload.task_id === id);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.length).toBeLessThan(300); // coalesced, not one per message
    expect(progress[progress.length - 1].payload).toMatchObject({ counts: { total: 300, sent: 300 }, percent: 100, eta_seconds: 0 });
    expect(mineEvents.filter((e) => e.name === 'task.status' && e.payload.task_id === id).map((e) => e.payload.status)).toEqual(['running', 'completed']);
    expect(theirEvents.filter((e) => String(e.name).startsWith('task.'))).toEqual([]);
  } finally {
    mine.disconnect();
    theirs.disconnect();
  }
});

test('a task with a scheduled time starts by itself', async () => {
  const a = await onlineAccount(env, t.tenantId);
  const id = await createTask({ account_ids: [a.id], targets: targets(3), scheduled_time: new Date(Date.now() + 1500).toISOString() });
  expect((await task(id)).status).toBe('created');
  const done = await until(id, 'completed');
  expect(done.sent_count).toBe(3);
  expect(new Date(done.start_time).getTime()).toBeGreaterThanOrEqual(new Date(done.scheduled_time).getTime());
});

test('group and filter targets come from the accounts’ conversations', async () => {
  const a = await onlineAccount(env, t.tenantId);
  const b = await onlineAccount(env, t.tenantId);
  const conv = (account: string, id: string, type: 'group' | 'private', tags: string[], last: string | null, active = 1) => ({
    id: newId(),
    tenant_id: t.tenantId,
    account_id: account,
    conversation_id: id,
    conversation_name: `name-${id}`,
    conversation_type: type,
    tags: JSON.stringify(tags),
    last_msg_time: last ? new Date(last) : null,
    is_active: active,
  });
  await env.ctx.db('conversations').insert([
    conv(a.id, 'g1', 'group', ['vip'], '2026-11-01T00:00:00Z'),
    conv(a.id, 'g2', 'group', [], '2026-10-01T00:00:00Z'),
    conv(a.id, 'p1', 'private', ['vip'], '2026-11-10T00:00:00Z'),
    conv(a.id, 'g-old', 'group', ['vip'], '2026-11-01T00:00:00Z', 0),
    conv(b.id, 'g1', 'group', ['vip'], '2026-11-20T00:00:00Z'), // same id on another account: a different target
    conv(b.id, 'p2', 'private', [], '2026-11-21T00:00:00Z'),
  ]);
  const group = await createTask({ account_ids: [a.id, b.id], target_type: 'group', content: { type: 'text', text: 'hi {{conversation_name}}' } });
  await start(group);
  await until(group, 'completed');
  const sent = await env.ctx.db('messages').select('account_id', 'conversation_id', 'content').where({ batch_id: group });
  expect(sent.map((m: any) => `${m.account_id === a.id ? 'a' : 'b'}:${m.conversation_id}`).sort()).toEqual(['a:g1', 'a:g2', 'b:g1']);
  expect((typeof sent[0].content === 'string' ? JSON.parse(sent[0].content) : sent[0].content).text).toMatch(/^hi name-g/);

  const filtered = await createTask({
    account_ids: [a.id, b.id],
    target_type: 'filter',
    filter: { tags: ['vip'], last_message_after: '2026-11-05T00:00:00Z' },
  });
  await start(filtered);
  await until(filtered, 'completed');
  const f = await env.ctx.db('messages').select('account_id', 'conversation_id').where({ batch_id: filtered });
  expect(f.map((m: any) => `${m.account_id === a.id ? 'a' : 'b'}:${m.conversation_id}`).sort()).toEqual(['a:p1', 'b:g1']);
});
