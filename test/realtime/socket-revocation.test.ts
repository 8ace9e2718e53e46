import { signAccessToken } from '../../src/auth/access-tokens';
import { createAppContext, type AppContext } from '../../src/context';
import { startApiServer, type RunningApi } from '../../src/server';
import { createTenant, createTestEnv, createUserWithRole, type TestEnv } from '../helpers/env';
import { http } from '../helpers/http';
import { connectSocket, type RecordingSocket } from '../helpers/socket';
import { waitFor } from '../helpers/wait';

/**
 * Issue 8, finding 6: Socket.IO checked credentials only at the handshake, so a deactivated operator, a
 * suspended tenant or a revoked key kept receiving events (message text included). Sockets here are
 * held by a second API copy while the changes go through the first, so the close crosses processes
 * (Redis adapter), as it must with several API copies.
 */
let env: TestEnv;
let copy: { ctx: AppContext; api: RunningApi };
let platformToken: string;
beforeAll(async () => {
  env = await createTestEnv('sockrevoke', { api: true });
  const ctx = createAppContext(env.config);
  copy = { ctx, api: await startApiServer(ctx, 0, '127.0.0.1') };
  const { username, password } = env.config.auth.platformAdmin;
  platformToken = (await http('POST', `${env.url}/api/v1/platform/login`, { body: { username, password } })).body.access_token;
});
afterAll(async () => {
  await copy.api.close();
  await copy.ctx.close();
  await env.close();
});

const api = (method: string, path: string, token: string, body?: unknown) => http(method, `${env.url}/api/v1${path}`, { token, body });

/** A socket on the second copy that remembers why it was disconnected. */
async function socketOnCopy(token: string): Promise<RecordingSocket & { closedBy: () => string | undefined }> {
  const s = await connectSocket(copy.api.url, { token });
  let reason: string | undefined;
  s.socket.on('disconnect', (r) => {
    reason = r;
  });
  return Object.assign(s, { closedBy: () => reason });
}
const closedByServer = (s: { closedBy: () => string | undefined }, what: string, timeoutMs = 5_000) =>
  waitFor(() => s.closedBy() === 'io server disconnect', what, { timeoutMs });

/** The socket still gets the tenant's events. */
async function stillReceives(s: RecordingSocket, tenantId: string): Promise<void> {
  const marker = Math.random().toString(36).slice(2);
  env.ctx.realtime.toTenant(tenantId, 'task.stalled', { marker });
  await s.waitForEvent('task.stalled', (p) => p.marker === marker, 'probe on a socket that must stay', 5_000);
}

test('deactivating, deleting or resetting the password of an operator closes its sockets, not the others', async () => {
  const t = await createTenant(env);
  const admin = await socketOnCopy(t.adminToken);
  for (const action of ['deactivate', 'delete', 'reset-password'] as const) {
    const op = await createUserWithRole(env, t, 'operator');
    const s = await socketOnCopy(op.token);
    const res =
      action === 'delete'
        ? await api('DELETE', `/users/${op.userId}`, t.adminToken)
        : await api('POST', `/users/${op.userId}/${action}`, t.adminToken, action === 'reset-password' ? { password: 'a new password here' } : undefined);
    expect(res.status).toBeLessThan(300);
    await closedByServer(s, `socket of an operator after ${action}`);
    await expect(connectSocket(copy.api.url, { token: op.token })).rejects.toThrow();
  }
  await stillReceives(admin, t.tenantId);
  admin.close();
});

test('revoking an API key closes its sockets; deleting its creator closes the sockets of the keys it made', async () => {
  const t = await createTenant(env);
  const admin = await socketOnCopy(t.adminToken);
  const key = (await api('POST', '/api-keys', t.adminToken, { name: 'feed', permissions: ['tasks:read'] })).body;
  const keySocket = await socketOnCopy(key.key);
  expect((await api('DELETE', `/api-keys/${key.id}`, t.adminToken)).status).toBe(200);
  await closedByServer(keySocket, 'socket of a revoked key');

  const creator = await createUserWithRole(env, t, 'admin');
  const creatorKey = (await api('POST', '/api-keys', creator.token, { name: 'creator feed', permissions: ['tasks:read'] })).body;
  const creatorKeySocket = await socketOnCopy(creatorKey.key);
  expect((await api('DELETE', `/users/${creator.userId}`, t.adminToken)).status).toBe(204);
  await closedByServer(creatorKeySocket, "socket of a deleted operator's key");
  await stillReceives(admin, t.tenantId);
  admin.close();
});

test("suspending a tenant closes every socket of that tenant and no other tenant's", async () => {
  const t = await createTenant(env);
  const other = await createTenant(env);
  const key = (await api('POST', '/api-keys', t.adminToken, { name: 'feed', permissions: ['tasks:read'] })).body;
  const sockets = [await socketOnCopy(t.adminToken), await socketOnCopy(key.key)];
  const bystander = await socketOnCopy(other.adminToken);
  expect((await api('POST', `/platform/tenants/${t.tenantId}/suspend`, platformToken)).status).toBe(200);
  for (const s of sockets) await closedByServer(s, 'socket of a suspended tenant');
  await stillReceives(bystander, other.tenantId);
  bystander.close();
});

test('a socket closes when its access token or API key expires', async () => {
  const t = await createTenant(env);
  const shortToken = signAccessToken({ ...env.config.auth, accessTokenTtl: 2 }, { sub: t.adminId, tid: t.tenantId, kind: 'user' });
  const key = (await api('POST', '/api-keys', t.adminToken, { name: 'brief', permissions: ['tasks:read'], expires_at: new Date(Date.now() + 2_500).toISOString() })).body;
  const sockets = [await socketOnCopy(shortToken), await socketOnCopy(key.key)];
  for (const s of sockets) expect(s.socket.connected).toBe(true);
  for (const s of sockets) await closedByServer(s, 'socket at credential expiry', 8_000);
});
