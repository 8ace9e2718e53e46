import { parse as parseCsv } from 'csv-parse/sync';
import { newId } from '../../src/db/ids';
import { MESSAGE_STATUSES } from '../../src/db/messages';
import { taskMessageIds } from '../../src/sending/message-ids';
import { taskMessagesInOrder } from '../../src/storage/task-report';
import { createTenant, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';

/**
 * A task's recipient list pages by keyset, with and without a status filter (the unfiltered list merges
 * the per-status lists), and the report reads the task in target order: nothing missed, nothing twice.
 */
let env: TestEnv;
let a: TestTenant;
let b: TestTenant;
const taskId = newId();
const accountId = newId();
const start = new Date('2026-11-20T10:00:00.000Z');
const idAt = taskMessageIds(taskId, start.getTime());
// 37 messages in every status, plus 3 single messages of the account (no task) that must never show up.
const rows = Array.from({ length: 37 }, (_, i) => ({
  id: idAt(i * 3),
  conversation_id: `c-${i}`,
  status: MESSAGE_STATUSES[(i * 5) % MESSAGE_STATUSES.length],
}));

beforeAll(async () => {
  env = await createTestEnv('task_messages', { api: true });
  a = await createTenant(env);
  b = await createTenant(env);
  await env.ctx.db('batch_send_tasks').insert({
    id: taskId, tenant_id: a.tenantId, creator_id: a.adminId, task_name: 'list', account_id: accountId,
    message_content: JSON.stringify({ content: { type: 'text', text: 'hi' } }), target_type: 'manual', target_config: '{}', status: 'running', start_time: start,
  });
  const base = { tenant_id: a.tenantId, account_id: accountId, message_type: 'text', content: '{}' };
  await env.ctx.db('messages').insert(rows.map((r) => ({ ...base, ...r, batch_id: taskId, created_at: start })));
  await env.ctx.db('messages').insert([1, 2, 3].map((i) => ({ ...base, id: newId(), conversation_id: `single-${i}`, status: 'failed', batch_id: null, created_at: new Date() })));
});
afterAll(() => env.close());

const api = (path: string) => `${env.url}/api/v1${path}`;

async function walk(query: string, token: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page += 1) {
    const res = await http('GET', api(`/messages?${query}&limit=4${cursor ? `&cursor=${cursor}` : ''}`), { token });
    expect(res.status).toBe(200);
    expect(res.body.data.length).toBeLessThanOrEqual(4);
    ids.push(...res.body.data.map((m: { id: string }) => m.id));
    cursor = res.body.next_cursor;
    if (!cursor) return ids;
  }
  throw new Error('too many pages');
}

const newestFirst = (ids: string[]) => [...ids].sort().reverse();

test('the unfiltered recipient list walks every message of the task once, newest first', async () => {
  expect(await walk(`task_id=${taskId}`, a.adminToken)).toEqual(newestFirst(rows.map((r) => r.id)));
});

test('the list filtered by status walks exactly that status, newest first', async () => {
  for (const status of ['failed', 'sent', 'pending'] as const) {
    const expected = newestFirst(rows.filter((r) => r.status === status).map((r) => r.id));
    expect(expected.length).toBeGreaterThan(4);
    expect(await walk(`task_id=${taskId}&status=${status}`, a.adminToken)).toEqual(expected);
  }
});

test("another tenant's list of the task is empty", async () => {
  expect(await walk(`task_id=${taskId}`, b.adminToken)).toEqual([]);
  expect(await walk(`task_id=${taskId}&status=failed`, b.adminToken)).toEqual([]);
});

test('the report reads the task in target order across statuses, page by page', async () => {
  const seen: string[] = [];
  for await (const r of taskMessagesInOrder(env.ctx.db, a.tenantId, taskId, 2)) seen.push(r.id);
  expect(seen).toEqual(rows.map((r) => r.id));
  const none: string[] = [];
  for await (const r of taskMessagesInOrder(env.ctx.db, b.tenantId, taskId, 2)) none.push(r.id);
  expect(none).toEqual([]);
});

test('a task with rows outside its id range (ids made before issue 17) is still read whole, in (created_at, id) order', async () => {
  const legacyTask = newId();
  await env.ctx.db('batch_send_tasks').insert({
    id: legacyTask, tenant_id: a.tenantId, creator_id: a.adminId, task_name: 'legacy', account_id: accountId,
    message_content: JSON.stringify({ content: { type: 'text', text: 'hi' } }), target_type: 'manual', target_config: '{}', status: 'running', start_time: start,
  });
  const base = { tenant_id: a.tenantId, account_id: accountId, message_type: 'text', content: '{}', batch_id: legacyTask };
  const legacy = Array.from({ length: 9 }, (_, i) => ({ ...base, id: newId(), conversation_id: `l-${i}`, status: MESSAGE_STATUSES[i % 3], created_at: new Date(start.getTime() + (i % 2) * 1000) }));
  await env.ctx.db('messages').insert(legacy);
  const expected = [...legacy].sort((x, y) => x.created_at.getTime() - y.created_at.getTime() || (x.id < y.id ? -1 : 1)).map((r) => r.id);
  const seen: string[] = [];
  for await (const r of taskMessagesInOrder(env.ctx.db, a.tenantId, legacyTask, 2)) seen.push(r.id);
  expect(seen).toEqual(expected);
});

test('the CSV export of a task longer than several read pages holds each message once, in target order', async () => {
  const bigTask = newId();
  const at = new Date('2026-11-21T08:00:00.000Z');
  const idOf = taskMessageIds(bigTask, at.getTime());
  await env.ctx.db('batch_send_tasks').insert({
    id: bigTask, tenant_id: a.tenantId, creator_id: a.adminId, task_name: 'big', account_id: accountId,
    message_content: JSON.stringify({ content: { type: 'text', text: 'hi' } }), target_type: 'manual', target_config: '{}', status: 'completed', start_time: at,
  });
  // 4,500 messages: more than two of the export's pages (2,000 rows), the last one partial.
  const count = 4_500;
  const base = { tenant_id: a.tenantId, account_id: accountId, message_type: 'text', content: '{}', batch_id: bigTask, created_at: at };
  for (let from = 0; from < count; from += 1_500) {
    await env.ctx.db('messages').insert(
      Array.from({ length: 1_500 }, (_, k) => from + k).map((i) => ({ ...base, id: idOf(i), conversation_id: `big-${i}`, status: i % 7 === 0 ? 'failed' : 'sent' })),
    );
  }
  const res = await http('POST', api(`/tasks/${bigTask}/report`), { token: a.adminToken });
  expect(res.status).toBe(201);
  const { object_key } = await env.ctx.db('files').where({ id: res.body.file.id }).first('object_key');
  const chunks: Buffer[] = [];
  for await (const c of await env.ctx.storage.get(object_key)) chunks.push(c as Buffer);
  const csv = Buffer.concat(chunks).toString('utf8');
  expect(res.body.file.size_bytes).toBe(Buffer.byteLength(csv));
  const lines = parseCsv(csv, { columns: true }) as Array<Record<string, string>>;
  expect(lines.map((r) => r.message_id)).toEqual(Array.from({ length: count }, (_, i) => idOf(i)));
  expect(lines.filter((r) => r.status === 'failed').map((r) => r.conversation_id)).toEqual(Array.from({ length: count }, (_, i) => i).filter((i) => i % 7 === 0).map((i) => `big-${i}`));
});
