/**
 * While MariaDB is down (SIGKILLed, a private server of this file) the API stays up and says so: the
 * gateway webhook answers 503 with Retry-After (a gateway retries those; a 500 reads as a bug), tenant
 * routes answer 503 too, and /health/ready reports not ready. Once MariaDB is back the same callback is
 * stored, and the process never exited or logged an unhandled rejection.
 */
import { PrivateMariaDb } from '../../scripts/chaos/private-services';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signCallback } from '../../src/gateway/callback-protocol';
import { NOTIFY } from '../../src/gateway/callback-protocol';
import { createTenant, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { waitFor } from '../helpers/wait';
import { callback } from '../callbacks/support';

let mdb: PrivateMariaDb;
let env: TestEnv;
let t: TestTenant;
let unhandled = 0;
const onUnhandled = () => {
  unhandled += 1;
};

beforeAll(async () => {
  mdb = await PrivateMariaDb.create();
  env = await createTestEnv('mysqldownapi', { api: true, env: { DB_PORT: String(mdb.port) } });
  t = await createTenant(env);
  process.on('unhandledRejection', onUnhandled);
}, 120_000);

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await mdb?.start().catch(() => undefined);
  await env?.close().catch(() => undefined);
  await mdb?.destroy();
}, 60_000);

function postSigned(body: unknown) {
  const raw = JSON.stringify(body);
  const ts = Math.floor(Date.now() / 1000);
  return http('POST', `${env.url}/callbacks/gateway`, {
    body: raw,
    headers: { [TIMESTAMP_HEADER]: String(ts), [SIGNATURE_HEADER]: signCallback(env.config.gateway.callbackSecret, ts, raw) },
  });
}

test('webhook 503 + Retry-After, tenant routes 503, readiness not ready while MariaDB is down; stored once it is back', async () => {
  const cb = callback('g-outage', NOTIFY.contactChange, { change: 'x' });
  await mdb.kill9();

  const during = await postSigned(cb);
  expect(during.status).toBe(503);
  expect(during.body.error.code).toBe('service_unavailable');
  expect(Number(during.headers['retry-after'])).toBeGreaterThan(0);

  const list = await http('GET', `${env.url}/api/v1/tasks`, { token: t.adminToken });
  expect(list.status).toBe(503);
  expect(list.headers['retry-after']).toBeDefined();

  const ready = await http('GET', `${env.url}/health/ready`);
  expect(ready.status).toBe(503);
  expect(ready.body.checks.mysql).toMatch(/^error/);
  expect(ready.body.checks.redis).toBe('ok');

  await mdb.start();
  // The gateway's retry of the same callback (same event id) is stored once.
  const after = await waitFor(() => postSigned(cb), 'the retried callback accepted after the restart', { until: (r) => r.status !== 503, timeoutMs: 60_000, intervalMs: 250 });
  expect(after.status).toBe(200);
  expect(after.body.duplicate).toBe(false);
  expect(await env.ctx.db('callback_events').where({ id: after.body.id }).first()).toMatchObject({ guid: 'g-outage', notify_type: NOTIFY.contactChange });
  expect((await http('GET', `${env.url}/health/ready`)).status).toBe(200);
  expect(unhandled).toBe(0);
}, 120_000);
