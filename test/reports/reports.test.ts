import { newId } from '../../src/db/ids';
import { rollupMessageStatistics } from '../../src/db/statistics';
import { createTenant, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';

let env: TestEnv;
let t: TestTenant;
let other: TestTenant;
const accA = newId();
const accB = newId();
const otherAcc = newId();

function msg(tenantId: string, accountId: string, iso: string, status: string, responseSeconds?: number) {
  const created = new Date(iso);
  return {
    id: newId(),
    tenant_id: tenantId,
    account_id: accountId,
    conversation_id: 'c',
    message_type: 'text',
    content: '{}',
    status,
    created_at: created,
    send_time: responseSeconds === undefined ? null : new Date(created.getTime() + responseSeconds * 1000),
  };
}

beforeAll(async () => {
  env = await createTestEnv('reports', { api: true });
  [t, other] = [await createTenant(env), await createTenant(env)];
  await env.ctx.db('wework_accounts').insert([
    { id: accA, tenant_id: t.tenantId, account_name: 'A' },
    { id: accB, tenant_id: t.tenantId, account_name: 'B' },
    { id: otherAcc, tenant_id: other.tenantId, account_name: 'X' },
  ]);
  await env.ctx.db('messages').insert([
    // Nov 20, 09:xx: A 2 sent (1 s, 3 s) + 1 failed; B 1 delivered (2 s)
    msg(t.tenantId, accA, '2026-11-20T09:10:00Z', 'sent', 1),
    msg(t.tenantId, accA, '2026-11-20T09:20:00Z', 'sent', 3),
    msg(t.tenantId, accA, '2026-11-20T09:30:00Z', 'failed'),
    msg(t.tenantId, accB, '2026-11-20T09:40:00Z', 'delivered', 2),
    // Nov 20, 15:xx: A 1 failed, 1 pending
    msg(t.tenantId, accA, '2026-11-20T15:00:00Z', 'failed'),
    msg(t.tenantId, accA, '2026-11-20T15:30:00Z', 'pending'),
    // Nov 21, 08:xx: B 1 delivered (4 s)
    msg(t.tenantId, accB, '2026-11-21T08:00:00Z', 'delivered', 4),
    // Another tenant, same hours: never visible to t
    msg(other.tenantId, otherAcc, '2026-11-20T09:10:00Z', 'failed'),
  ]);
  await rollupMessageStatistics(env.ctx.db, new Date('2026-11-20T00:00:00Z'), new Date('2026-11-22T00:00:00Z'));
});
afterAll(() => env.close());

const get = (path: string, token = t.adminToken) => http('GET', `${env.url}/api/v1${path}`, { token });

test('hourly series with totals and success rate for the tenant', async () => {
  const res = await get('/reports/messages?from=2026-11-20T00:00:00Z&to=2026-11-22T00:00:00Z&granularity=hour');
  expect(res.status).toBe(200);
  // Response times 1, 3, 2, 4 s over the four accepted messages.
  expect(res.body.totals).toEqual({ total: 7, success: 4, failed: 2, success_rate: 0.6667, avg_response_time: 2.5 });
  expect(res.body.series).toEqual([
    { period: '2026-11-20T09:00:00Z', total: 4, success: 3, failed: 1, success_rate: 0.75, avg_response_time: 2 },
    { period: '2026-11-20T15:00:00Z', total: 2, success: 0, failed: 1, success_rate: 0, avg_response_time: null },
    { period: '2026-11-21T08:00:00Z', total: 1, success: 1, failed: 0, success_rate: 1, avg_response_time: 4 },
  ]);
});

test('daily series, one account, and the range bounds the hours', async () => {
  const daily = await get('/reports/messages?from=2026-11-20T00:00:00Z&to=2026-11-22T00:00:00Z&granularity=day');
  expect(daily.body.series.map((p: { period: string; total: number }) => [p.period, p.total])).toEqual([
    ['2026-11-20', 6],
    ['2026-11-21', 1],
  ]);
  // Daily periods are the tenant's calendar days: Auckland is UTC+13 in November.
  await env.ctx.db('tenants').where({ id: t.tenantId }).update({ timezone: 'Pacific/Auckland' });
  const local = await get('/reports/messages?from=2026-11-20T00:00:00Z&to=2026-11-22T00:00:00Z&granularity=day');
  expect(local.body.timezone).toBe('Pacific/Auckland');
  expect(local.body.series.map((p: { period: string; total: number }) => [p.period, p.total])).toEqual([
    ['2026-11-20', 4],
    ['2026-11-21', 3],
  ]);
  const asked = await get('/reports/messages?from=2026-11-20T00:00:00Z&to=2026-11-22T00:00:00Z&granularity=day&timezone=UTC');
  expect(asked.body.series.map((p: { period: string }) => p.period)).toEqual(['2026-11-20', '2026-11-21']);
  expect(asked.body.series[0].total).toBe(6);
  await env.ctx.db('tenants').where({ id: t.tenantId }).update({ timezone: 'UTC' });

  const a = await get(`/reports/messages?from=2026-11-20T00:00:00Z&to=2026-11-21T00:00:00Z&granularity=hour&account_id=${accA}`);
  expect(a.status).toBe(200);
  expect(a.body.account_id).toBe(accA);
  expect(a.body.series).toEqual([
    { period: '2026-11-20T09:00:00Z', total: 3, success: 2, failed: 1, success_rate: 0.6667, avg_response_time: 2 },
    { period: '2026-11-20T15:00:00Z', total: 2, success: 0, failed: 1, success_rate: 0, avg_response_time: null },
  ]);
  // `to` is exclusive, `from` inclusive, both at hour granularity.
  const window = await get('/reports/messages?from=2026-11-20T09:00:00Z&to=2026-11-20T15:00:00Z');
  expect(window.body.totals).toMatchObject({ total: 4, success: 3, failed: 1 });
});

test('per-account breakdown', async () => {
  const res = await get('/reports/accounts?from=2026-11-20T00:00:00Z&to=2026-11-22T00:00:00Z');
  expect(res.status).toBe(200);
  const byId = Object.fromEntries(res.body.data.map((r: { account_id: string }) => [r.account_id, r]));
  expect(Object.keys(byId).sort()).toEqual([accA, accB].sort());
  expect(byId[accA]).toEqual({ account_id: accA, account_name: 'A', total: 5, success: 2, failed: 2, success_rate: 0.5 });
  expect(byId[accB]).toEqual({ account_id: accB, account_name: 'B', total: 2, success: 2, failed: 0, success_rate: 1 });
  expect(res.body.next_cursor).toBeNull();
});

test('per-account breakdown in keyset pages: every account once, in account id order; a bad cursor is a 400', async () => {
  const range = 'from=2026-11-20T00:00:00Z&to=2026-11-22T00:00:00Z';
  const first = await get(`/reports/accounts?${range}&limit=1`);
  expect(first.status).toBe(200);
  expect(first.body.data).toHaveLength(1);
  expect(first.body.next_cursor).toEqual(expect.any(String));
  const second = await get(`/reports/accounts?${range}&limit=1&cursor=${first.body.next_cursor}`);
  expect(second.body.data).toHaveLength(1);
  expect(second.body.next_cursor).toBeNull();
  expect([first.body.data[0].account_id, second.body.data[0].account_id]).toEqual([accA, accB].sort());
  const bad = await get(`/reports/accounts?${range}&cursor=not-a-cursor`);
  expect(bad.status).toBe(400);
  expect(bad.body.error.details.fields[0].field).toBe('query.cursor');
});

test("tenant isolation: other tenants' numbers never show; their account answers 404", async () => {
  const mine = await get('/reports/messages?from=2026-11-20T00:00:00Z&to=2026-11-22T00:00:00Z', other.adminToken);
  expect(mine.body.totals).toMatchObject({ total: 1, success: 0, failed: 1 });
  const foreign = await get(`/reports/messages?from=2026-11-20T00:00:00Z&to=2026-11-22T00:00:00Z&account_id=${otherAcc}`);
  expect(foreign.status).toBe(404);
});

test('bad ranges are refused with the field named', async () => {
  const reversed = await get('/reports/messages?from=2026-11-22T00:00:00Z&to=2026-11-20T00:00:00Z');
  expect(reversed.status).toBe(400);
  expect(reversed.body.error.details.fields[0].field).toBe('query.from');
  const tooLong = await get('/reports/messages?from=2026-01-01T00:00:00Z&to=2026-11-20T00:00:00Z&granularity=hour');
  expect(tooLong.status).toBe(400);
  const notADate = await get('/reports/messages?from=yesterday');
  expect(notADate.body.error.details.fields[0].field).toBe('query.from');
  const badZone = await get('/reports/messages?granularity=day&timezone=Mars/Olympus');
  expect(badZone.status).toBe(400);
  expect(badZone.body.error.details.fields[0].field).toBe('query.timezone');
  const badGranularity = await get('/reports/messages?granularity=week');
  expect(badGranularity.body.error.details.fields[0].field).toBe('query.granularity');
});

test('the OpenAPI document describes the reports, files, cron and task-report routes', async () => {
  const doc = await http('GET', `${env.url}/openapi.json`);
  for (const path of ['/api/v1/reports/messages', '/api/v1/reports/accounts', '/api/v1/files', '/api/v1/files/{id}/download-url', '/api/v1/cron/jobs', '/api/v1/cron/runs', '/api/v1/tasks/{id}/report']) {
    expect(Object.keys(doc.body.paths)).toContain(path);
  }
});
