import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { createApp } from '../../src/api/app';
import { LOG_REDACT_PATHS } from '../../src/logger';
import { createTenant, createTestEnv, type TestEnv } from '../helpers/env';
import { http } from '../helpers/http';

/**
 * The access log of a real app instance, captured line by line: download tokens and anything else in
 * a query string (or a Referer) never reach it, while method, path and status still do.
 */
let env: TestEnv;
let server: Server;
let url: string;
const lines: Array<Record<string, any>> = [];

beforeAll(async () => {
  env = await createTestEnv('accesslog');
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      cb();
    },
  });
  const logger = pino({ level: 'info', redact: LOG_REDACT_PATHS }, sink);
  server = createServer(createApp({ ...env.ctx, logger }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await env.close();
});

test('query strings are redacted from access-log lines; the path and status stay', async () => {
  const tenant = await createTenant(env);
  const secret = 'SeCrEtDownloadToken0123456789';
  await http('GET', `${url}/files/download?token=${secret}`);
  await http('GET', `${url}/api/v1/templates?q=${secret}&limit=5`, { token: tenant.adminToken, headers: { referer: `https://console.example.test/x?token=${secret}` } });
  const access = lines.filter((l) => l.req && l.res);
  expect(access.map((l) => [l.req.method, l.req.url, l.res.statusCode])).toEqual(
    expect.arrayContaining([
      ['GET', '/files/download?[redacted]', expect.any(Number)],
      ['GET', '/api/v1/templates?[redacted]', 200],
    ]),
  );
  expect(access.find((l) => l.req.url.startsWith('/api/v1/templates'))!.req.headers.referer).toBe('https://console.example.test/x?[redacted]');
  expect(JSON.stringify(lines)).not.toContain(secret);
});
