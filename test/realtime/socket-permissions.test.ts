import { createTenant, createTestEnv, createUserWithRole, type TestEnv } from '../helpers/env';
import { http } from '../helpers/http';
import { connectSocket } from '../helpers/socket';

/**
 * A socket hears only what its principal may read through the API: an API key limited to tasks gets
 * task progress but no account QR events or conversation text; operators and admins get what their
 * roles allow. (Before, every socket of the tenant got every event, whatever its key's permissions.)
 */
let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('sockperm', { api: true });
});
afterAll(async () => {
  await env.close();
});

async function keyWith(adminToken: string, permissions: string[]): Promise<string> {
  const res = await http('POST', `${env.url}/api/v1/api-keys`, { token: adminToken, body: { name: `key ${permissions.join(' ')}`, permissions } });
  expect(res.status).toBe(201);
  return res.body.key;
}

test('events reach only the sockets whose principal holds their read permission', async () => {
  const t = await createTenant(env);
  const admin = await connectSocket(env.url, { token: t.adminToken });
  const tasksOnly = await connectSocket(env.url, { token: await keyWith(t.adminToken, ['tasks:read']) });
  const accountsOnly = await connectSocket(env.url, { token: await keyWith(t.adminToken, ['accounts:read', 'users:read']) });
  const viewer = await connectSocket(env.url, { token: (await createUserWithRole(env, t, 'viewer')).token });
  try {
    env.ctx.realtime.toTenant(t.tenantId, 'account.qr', { account_id: 'a1' });
    env.ctx.realtime.toTenant(t.tenantId, 'conversation.message', { conversation_id: 'c1', content: 'secret text' });
    env.ctx.realtime.toTenant(t.tenantId, 'task.progress', { task_id: 'sentinel' });

    // Barrier: every socket that may see tasks got the last event, published after the other two.
    for (const s of [admin, tasksOnly, viewer]) await s.waitForEvent('task.progress', (p) => p.task_id === 'sentinel', 'the task sentinel', 5_000);
    await accountsOnly.waitForEvent('account.qr', (p) => p.account_id === 'a1', 'account.qr on the accounts key', 5_000);
    await admin.waitForEvent('conversation.message', (p) => p.conversation_id === 'c1', 'conversation.message on the admin', 5_000);
    await viewer.waitForEvent('conversation.message', (p) => p.conversation_id === 'c1', 'conversation.message on the viewer', 5_000);

    expect(tasksOnly.events.map((e) => e.event)).toEqual(['task.progress']);
    expect(accountsOnly.received('task.progress')).toEqual([]);
    expect(accountsOnly.received('conversation.message')).toEqual([]);
    expect(viewer.received('account.qr')).toHaveLength(1);
  } finally {
    for (const s of [admin, tasksOnly, accountsOnly, viewer]) s.close();
  }
});
