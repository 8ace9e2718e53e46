import { Readable } from 'node:stream';
import { request } from 'undici';
import { NOTIFY, SIGNATURE_HEADER, TIMESTAMP_HEADER, signCallback } from '../../src/gateway/callback-protocol';
import { createTenant, createTestEnv, type TestEnv } from '../helpers/env';
import { waitFor } from '../helpers/wait';
import { callback, eventRow, insertAccount, postCallback, queuedEventIds, rejectedCount } from './support';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('cbwebhook', { api: true });
});
afterAll(() => env.close());

const countRows = async () => Number((await env.ctx.db('callback_events').count({ n: '*' }))[0].n);

test('a correctly signed callback is stored raw with its source, tenant and event type, then queued', async () => {
  const t = await createTenant(env);
  const acct = await insertAccount(env, t.tenantId);
  const cb = callback(acct.guid, NOTIFY.online, { user_info: { name: 'Li' } });
  const raw = JSON.stringify(cb);
  const res = await postCallback(env, cb, { rawBody: raw });
  expect(res.status).toBe(200);
  expect(res.body).toEqual({ ok: true, id: expect.any(String), duplicate: false });

  const row = await eventRow(env, res.body.id);
  expect(row).toMatchObject({
    tenant_id: t.tenantId,
    guid: acct.guid,
    notify_type: NOTIFY.online,
    event_type: 'account.online',
    raw_data: raw,
    status: 'received',
    user_agent: 'test-gateway/1.0',
    retry_count: 0,
  });
  expect(row.source_ip).toMatch(/127\.0\.0\.1/);

  // Queued right after the commit, in the job of its group-committed batch.
  await waitFor(async () => (await queuedEventIds(env)).has(res.body.id), 'the stored callback to be queued');
});

test('a callback for an unknown guid is still stored (tenant unresolved) and unknown notify types are kept', async () => {
  const res = await postCallback(env, callback('nobody-knows-me', 4242, { anything: [1, 2] }));
  expect(res.status).toBe(200);
  const row = await eventRow(env, res.body.id);
  expect(row).toMatchObject({ tenant_id: null, notify_type: 4242, event_type: 'unknown', status: 'received' });
});

test('unsigned, badly signed, wrongly keyed and stale callbacks are refused with 401 and counted, nothing stored', async () => {
  const before = await countRows();
  const cb = callback('g-1', NOTIFY.online);

  const missingBefore = await rejectedCount(env, 'missing_signature');
  const unsigned = await postCallback(env, cb, { signature: null });
  expect(unsigned.status).toBe(401);
  expect(unsigned.body.error.code).toBe('missing_signature');
  expect(await rejectedCount(env, 'missing_signature')).toBe(missingBefore + 1);

  const badBefore = await rejectedCount(env, 'bad_signature');
  const bad = await postCallback(env, cb, { signature: `sha256=${'0'.repeat(64)}` });
  expect(bad.status).toBe(401);
  expect(bad.body.error.code).toBe('invalid_signature');
  const wrongKey = await postCallback(env, cb, { secret: 'not-the-shared-secret' });
  expect(wrongKey.status).toBe(401);
  expect(wrongKey.body.error.code).toBe('invalid_signature');
  // Signature computed over other bytes than the ones sent.
  const tampered = await postCallback(env, cb, {
    rawBody: JSON.stringify({ ...cb, guid: 'g-2' }),
    signature: (await import('../../src/gateway/callback-protocol')).signCallback(env.config.gateway.callbackSecret, Math.floor(Date.now() / 1000), JSON.stringify(cb)),
  });
  expect(tampered.status).toBe(401);
  expect(await rejectedCount(env, 'bad_signature')).toBe(badBefore + 3);

  const staleBefore = await rejectedCount(env, 'stale_timestamp');
  const old = Math.floor(Date.now() / 1000) - env.config.gateway.callbackToleranceSeconds - 5;
  const stale = await postCallback(env, cb, { timestamp: old });
  expect(stale.status).toBe(401);
  expect(stale.body.error.code).toBe('stale_timestamp');
  const future = await postCallback(env, cb, { timestamp: Math.floor(Date.now() / 1000) + env.config.gateway.callbackToleranceSeconds + 5 });
  expect(future.body.error.code).toBe('stale_timestamp');
  expect(await rejectedCount(env, 'stale_timestamp')).toBe(staleBefore + 2);

  expect(await countRows()).toBe(before);
});

test('an oversized body is refused with 413 and counted', async () => {
  const before = await countRows();
  const tooLargeBefore = await rejectedCount(env, 'too_large');
  const cb = callback('g-big', NOTIFY.messages, { blob: 'x'.repeat(300 * 1024) });
  const res = await postCallback(env, cb);
  expect(res.status).toBe(413);
  expect(res.body.error.code).toBe('payload_too_large');
  expect(await rejectedCount(env, 'too_large')).toBe(tooLargeBefore + 1);
  expect(await countRows()).toBe(before);
});

test('an oversized body sent without Content-Length (chunked) is refused too', async () => {
  const before = await countRows();
  const raw = JSON.stringify(callback('g-chunked', NOTIFY.messages, { blob: 'y'.repeat(300 * 1024) }));
  const ts = Math.floor(Date.now() / 1000);
  const parts: Buffer[] = [];
  for (let i = 0; i < raw.length; i += 16 * 1024) parts.push(Buffer.from(raw.slice(i, i + 16 * 1024)));
  // A stream body has no Content-Length: undici sends it chunked.
  const chunks = () => Readable.from(parts);
  const res = await request(`${env.url}/callbacks/gateway`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [TIMESTAMP_HEADER]: String(ts), [SIGNATURE_HEADER]: signCallback(env.config.gateway.callbackSecret, ts, raw) },
    body: chunks(),
  });
  expect(res.statusCode).toBe(413);
  await res.body.dump();
  expect(await countRows()).toBe(before);
  // The connection pool stays usable afterwards.
  expect((await postCallback(env, callback('g-after-chunked', NOTIFY.online))).status).toBe(200);
});

test('signed but malformed bodies are refused with 400 naming the problem', async () => {
  const notJson = await postCallback(env, undefined, { rawBody: '{"event_id": ' });
  expect(notJson.status).toBe(400);
  expect(notJson.body.error.code).toBe('invalid_json');
  const noGuid = await postCallback(env, { event_id: 'e1', notify_type: 1, payload: {} });
  expect(noGuid.status).toBe(400);
  expect(noGuid.body.error.details.fields.map((f: { field: string }) => f.field)).toContain('body.guid');
  const before = await countRows();
  const surrogate = await postCallback(env, undefined, { rawBody: '{"event_id":"e-sur","guid":"g-1","notify_type":3,"timestamp":1,"payload":{"messages":[{"text":"a\\ud800"}]}}' });
  expect(surrogate.status).toBe(400);
  expect(surrogate.body.error.details.fields).toEqual([expect.objectContaining({ field: 'body.payload.messages.0.text', code: 'invalid_string' })]);
  const deep = await postCallback(env, undefined, { rawBody: `{"event_id":"e-deep","guid":"g-1","notify_type":3,"timestamp":1,"payload":${'['.repeat(5000)}${']'.repeat(5000)}}` });
  expect(deep.status).toBe(400);
  expect(deep.body.error.details.fields[0].code).toBe('too_deep');
  expect(await countRows()).toBe(before);
  const reserved = await postCallback(env, callback('g-1', NOTIFY.wecomOfficial));
  expect(reserved.status).toBe(400);
  expect(reserved.body.error.details.fields[0].field).toBe('body.notify_type');
});

test('a replayed event id is acknowledged as a duplicate and stored once', async () => {
  const cb = callback('g-replay', NOTIFY.offline, { scene: 'kicked' });
  const first = await postCallback(env, cb);
  const again = await postCallback(env, cb);
  // Re-signed later with a new timestamp: still the same event.
  const resent = await postCallback(env, { ...cb, timestamp: cb.timestamp + 1 });
  expect(first.body.duplicate).toBe(false);
  expect(again).toEqual({ status: 200, body: { ok: true, id: first.body.id, duplicate: true } });
  expect(resent.body).toEqual({ ok: true, id: first.body.id, duplicate: true });
  expect(await env.ctx.db('callback_events').where({ guid: 'g-replay' }).count({ n: '*' })).toEqual([{ n: 1 }]);
});

test('concurrent deliveries of one event store one row; the same event id from another guid is a different event', async () => {
  const cb = callback('g-race', NOTIFY.messages, { messages: [] });
  const results = await Promise.all(Array.from({ length: 20 }, () => postCallback(env, cb)));
  expect(results.every((r) => r.status === 200)).toBe(true);
  expect(results.filter((r) => !r.body.duplicate)).toHaveLength(1);
  expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
  expect(await env.ctx.db('callback_events').where({ guid: 'g-race' }).count({ n: '*' })).toEqual([{ n: 1 }]);

  const other = await postCallback(env, { ...cb, guid: 'g-race-2' });
  expect(other.body.duplicate).toBe(false);
});

test('many distinct concurrent callbacks are all stored (group commit keeps each answer tied to its row)', async () => {
  const cbs = Array.from({ length: 150 }, (_, i) => callback(`g-bulk-${i % 7}`, NOTIFY.friendRequest, { i }));
  const results = await Promise.all(cbs.map((cb) => postCallback(env, cb)));
  expect(results.every((r) => r.status === 200 && r.body.duplicate === false)).toBe(true);
  const rows = await env.ctx.db('callback_events').whereIn('id', results.map((r) => r.body.id)).select('id', 'raw_data');
  expect(rows).toHaveLength(150);
  const byId = new Map(rows.map((r: { id: string; raw_data: string }) => [r.id, JSON.parse(r.raw_data).payload.i]));
  results.forEach((r, i) => expect(byId.get(r.body.id)).toBe(i));
});
