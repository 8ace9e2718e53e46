import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../src/api/app';
import { createTestEnv, createTenant, type TestEnv } from '../helpers/env';
import { http } from '../helpers/http';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('health', { api: true });
});
afterAll(() => env.close());

test('liveness and readiness check MySQL and Redis', async () => {
  expect((await http('GET', `${env.url}/health/live`)).body).toEqual({ status: 'ok' });
  const ready = await http('GET', `${env.url}/health/ready`);
  expect(ready.status).toBe(200);
  expect(ready.body.checks).toEqual({ mysql: 'ok', redis: 'ok' });
});

test('prometheus metrics are exposed', async () => {
  const res = await http('GET', `${env.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.body).toContain('http_request_duration_seconds');
});

test('unknown routes answer JSON 404 with a request id and security headers', async () => {
  const res = await http('GET', `${env.url}/nope`);
  expect(res.status).toBe(404);
  expect(res.body.error.code).toBe('not_found');
  expect(res.headers['x-request-id']).toBeTruthy();
  expect(res.headers['x-content-type-options']).toBe('nosniff');
});

test('API routes need a credential, and a valid one passes authentication', async () => {
  const anon = await http('GET', `${env.url}/api/v1/anything`);
  expect(anon.status).toBe(401);
  expect(anon.body.error.code).toBe('unauthorized');
  const bad = await http('GET', `${env.url}/api/v1/anything`, { token: 'garbage' });
  expect(bad.body.error.code).toBe('invalid_token');
  const t = await createTenant(env);
  const ok = await http('GET', `${env.url}/api/v1/anything`, { token: t.adminToken });
  expect(ok.status).toBe(404);
});

test('OpenAPI document is served', async () => {
  const res = await http('GET', `${env.url}/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.body.openapi).toBe('3.0.3');
});

test('with METRICS_TOKEN set, /metrics needs it as a bearer token (the exposure is documented)', async () => {
  const config = { ...env.config, http: { ...env.config.http, metricsToken: 'scrape-secret-123' } };
  const server = createServer(createApp({ ...env.ctx, config }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  try {
    const open = await http('GET', url);
    expect(open.status).toBe(401);
    expect(open.headers['www-authenticate']).toMatch(/Bearer/);
    expect((await http('GET', url, { token: 'wrong' })).status).toBe(401);
    const scraped = await http('GET', url, { token: 'scrape-secret-123' });
    expect(scraped.status).toBe(200);
    expect(scraped.body).toContain('http_request_duration_seconds');
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
