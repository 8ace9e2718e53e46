/**
 * The API server answers POST /callbacks/gateway in front of express (src/api/callback-fast-path.ts).
 * The same requests sent to the express app alone (its own route for the path) and to the server get the
 * same status, body and headers, and store the same rows: the fast path changes the cost, not the answer.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../src/api/app';
import { NOTIFY } from '../../src/gateway/callback-protocol';
import { createTestEnv, type TestEnv } from '../helpers/env';
import { callback, eventRow, postCallback, type PostOptions } from './support';

let env: TestEnv;
let expressOnly: Server;
let expressEnv: TestEnv;

beforeAll(async () => {
  // Behind a trusted loopback proxy, so X-Forwarded-For decides the stored source address.
  env = await createTestEnv('cbfastpath', { api: true, env: { TRUST_PROXY: 'loopback' } });
  expressOnly = createServer(createApp(env.ctx));
  await new Promise<void>((resolve) => expressOnly.listen(0, '127.0.0.1', resolve));
  expressEnv = { ...env, url: `http://127.0.0.1:${(expressOnly.address() as AddressInfo).port}` };
});
afterAll(async () => {
  await new Promise((resolve) => expressOnly.close(resolve));
  await env.close();
});

/** Status and body, with the generated parts (row id, request id) reduced to their shape. */
const shape = (r: { status: number; body: any }) => ({ status: r.status, body: typeof r.body?.id === 'string' ? { ...r.body, id: 'id' } : r.body });

const cases: Array<[string, (n: number) => [unknown, PostOptions]]> = [
  ['a good callback', (n) => [callback(`guid-parity-${n}`, 3, { messages: [] }), { headers: { 'x-forwarded-for': '203.0.113.7' } }]],
  ['unsigned', (n) => [callback(`guid-parity-${n}`, 3), { signature: null }]],
  ['a bad signature', (n) => [callback(`guid-parity-${n}`, 3), { signature: 'sha256=00' }]],
  ['a stale timestamp', (n) => [callback(`guid-parity-${n}`, 3), { timestamp: Math.floor(Date.now() / 1000) - 3_600 }]],
  ['not JSON', () => [undefined, { rawBody: '{"event_id":' }]],
  ['a malformed body', () => [{ event_id: '', guid: 'x', notify_type: 'three' }, {}]],
  ['the notify type reserved for WeCom official callbacks', (n) => [callback(`guid-parity-${n}`, NOTIFY.wecomOfficial), {}]],
  ['an unknown notify type (stored as unknown)', (n) => [callback(`guid-parity-${n}`, 1000), {}]],
  ['an oversized body', () => [undefined, { rawBody: JSON.stringify({ pad: 'x'.repeat(300 * 1024) }) }]],
  ['a compressed body', (n) => [callback(`guid-parity-${n}`, 3), { headers: { 'content-encoding': 'gzip' } }]],
  ['a forged client address', (n) => [callback(`guid-parity-${n}`, 3), { headers: { 'x-forwarded-for': 'not-an-ip' } }]],
];

test.each(cases)('%s: the fast path answers as the express route does', async (_name, make) => {
  const [body, opts] = make(1);
  const viaExpress = await postCallback(expressEnv, body, opts);
  // A fresh event id for the second request (the same one would be a replay).
  const [body2, opts2] = make(2);
  const viaServer = await postCallback(env, body2, opts2);
  expect(shape(viaServer)).toEqual(shape(viaExpress));
  if (viaServer.status === 200) {
    const stored = async (id: string) => {
      const row = await eventRow(env, id);
      return { source_ip: row.source_ip, notify_type: row.notify_type, event_type: row.event_type, user_agent: row.user_agent };
    };
    const [a, b] = [await stored(viaExpress.body.id), await stored(viaServer.body.id)];
    expect(b).toEqual(a);
    expect(a.source_ip).toBe(opts.headers?.['x-forwarded-for'] ?? '127.0.0.1');
  }
});

test('the server answers the route itself: no weak ETag on its error answers, which express adds to every JSON body', async () => {
  const [viaExpress, viaServer] = await Promise.all([expressEnv, env].map((e) => fetch(`${e.url}/callbacks/gateway`, { method: 'POST', body: '{}' })));
  expect([viaExpress.status, viaServer.status]).toEqual([401, 401]);
  expect(viaExpress.headers.get('etag')).toMatch(/^W\//);
  expect(viaServer.headers.get('etag')).toBeNull();
});

test('a request id given is echoed, one not given is made, on both paths', async () => {
  for (const e of [expressEnv, env]) {
    const given = await fetch(`${e.url}/callbacks/gateway`, { method: 'POST', headers: { 'x-request-id': 'req-parity-1' }, body: '{}' });
    expect(given.status).toBe(401);
    expect(given.headers.get('x-request-id')).toBe('req-parity-1');
    const made = await fetch(`${e.url}/callbacks/gateway`, { method: 'POST', body: '{}' });
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  }
});
