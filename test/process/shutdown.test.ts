import { connect } from 'node:net';
import { createTestEnv, createTenant, type TestEnv } from '../helpers/env';
import { http } from '../helpers/http';
import { freePort } from '../helpers/ports';
import { PROCESS_TEST_TIMEOUT_MS, spawnRole, waitReady } from '../helpers/processes';
import { waitForLockWait } from '../helpers/lock-wait';
import { waitFor } from '../helpers/wait';

/** The real entry point, as a separate process: it serves, and on SIGTERM finishes in-flight requests before exiting 0. */
jest.setTimeout(PROCESS_TEST_TIMEOUT_MS);

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('shutdown');
});
afterAll(() => env.close());

/** Whether a fresh TCP connection to the port is accepted (a listener is there). */
const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

test('SIGTERM: the API stops accepting, lets an in-flight request finish, then the process exits 0', async () => {
  const t = await createTenant(env);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const api = spawnRole({ role: 'api', config: env.config, env: { PORT: String(port), HOST: '127.0.0.1' } });
  await waitReady(url, { proc: api });
  const tenantCode = (await env.ctx.db('tenants').where({ id: t.tenantId }).first()).tenant_code;
  const session = await http('POST', `${url}/api/v1/auth/login`, { body: { tenant_code: tenantCode, username: t.username, password: t.password } });
  expect(session.status).toBe(200);

  // Hold the refresh token's row: a refresh request now waits inside the server, on our lock.
  const lock = await env.ctx.db.transaction();
  let refresh: ReturnType<typeof http> | undefined;
  try {
    await lock('refresh_tokens').where({ user_id: t.adminId }).forUpdate();
    refresh = http('POST', `${url}/api/v1/auth/refresh`, { body: { refresh_token: session.body.refresh_token } });
    // Barrier: the server received the request (its query is waiting for our row lock).
    await waitForLockWait(env.ctx.db, 'the refresh request to wait on the row lock inside the API process', {
      database: env.config.db.database,
    });
    api.signal('SIGTERM');
    // Barrier: the process is shutting down (no new connection is accepted) while the request is in flight.
    await waitFor(async () => !(await accepts(port)), 'the API to stop accepting connections after SIGTERM');
  } finally {
    await lock.rollback();
  }

  const res = await refresh!;
  expect(res.status).toBe(200);
  expect(res.body.access_token).toEqual(expect.any(String));
  expect(await api.stop()).toEqual({ code: 0, signal: null });
  await expect(http('GET', `${url}/health/live`)).rejects.toThrow();
});
