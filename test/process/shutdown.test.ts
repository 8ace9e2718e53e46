import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { hashPassword } from '../../src/auth/passwords';
import { createTestEnv, createTenant, type TestEnv } from '../helpers/env';
import { http } from '../helpers/http';

/** The real entry point, as a separate process: it serves, and on SIGTERM finishes in-flight requests before exiting 0. */
let env: TestEnv;
let child: ChildProcess | undefined;

beforeAll(async () => {
  env = await createTestEnv('shutdown');
});
afterAll(async () => {
  child?.kill('SIGKILL');
  await env.close();
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 150; i++) {
    try {
      if ((await http('GET', `${url}/health/ready`)).status === 200) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('API did not become ready');
}

test('SIGTERM lets an in-flight request finish, then the process exits 0', async () => {
  const t = await createTenant(env);
  // A deliberately expensive hash makes the login request take a while on the server.
  const slowHash = await hashPassword({ ...env.config.auth, hashMemoryKib: 65536, hashTimeCost: 12 }, 'slow password!');
  await env.ctx.db('users').where({ id: t.adminId }).update({ password_hash: slowHash });

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', '..', 'src', 'main.ts'), '--role', 'api'], {
    env: {
      ...process.env,
      DB_NAME: env.config.db.database,
      REDIS_PREFIX: env.config.redis.prefix,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
  await waitReady(url);

  const login = http('POST', `${url}/api/v1/auth/login`, {
    body: { tenant_code: (await env.ctx.db('tenants').where({ id: t.tenantId }).first()).tenant_code, username: t.username, password: 'slow password!' },
  });
  await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGTERM');

  const res = await login;
  expect(res.status).toBe(200);
  expect(res.body.access_token).toEqual(expect.any(String));
  expect(await exited).toBe(0);
  // Once stopped, nothing listens any more.
  await expect(http('GET', `${url}/health/live`)).rejects.toThrow();
});
