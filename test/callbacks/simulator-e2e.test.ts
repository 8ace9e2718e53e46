import { defaultCallbackHandlers } from '../../src/callbacks/handlers';
import { startSimulator, type RunningSimulator } from '../../src/gateway/simulator';
import { startCallbackProcessWorker } from '../../workers/callback-process.worker';
import type { RunningWorker } from '../../workers';
import { createTenant, createTestEnv, type TestEnv } from '../helpers/env';
import { http } from '../helpers/http';
import { connectSocket } from '../helpers/socket';
import { waitFor } from '../helpers/wait';

/**
 * The real protocol peer: the gateway simulator signs and POSTs callbacks to the webhook over HTTP, the
 * worker applies them through the real handlers.
 */
const SECRET = 'e2e-callback-secret';
let env: TestEnv;
let sim: RunningSimulator;
let worker: RunningWorker;

beforeAll(async () => {
  sim = await startSimulator({ callbackSecret: SECRET, autoLogin: false, callbackQueue: { retryBaseMs: 20 } });
  env = await createTestEnv('cbe2e', { api: true, env: { GATEWAY_URL: sim.url, GATEWAY_CALLBACK_SECRET: SECRET } });
  sim.callbacks.setUrl(`${env.url}/callbacks/gateway`);
  worker = startCallbackProcessWorker(env.ctx, { handlers: defaultCallbackHandlers() });
});
afterAll(async () => {
  await worker.close();
  await sim.close();
  await env.close();
});

test('simulator callbacks: an incoming message lands in the conversation, a logout takes the account offline', async () => {
  const t = await createTenant(env);
  const { guid } = sim.control.createInstance('e2e');
  const accountId = '01930000-0000-7000-8000-00000000e2e0';
  await env.ctx.db('wework_accounts').insert({ id: accountId, tenant_id: t.tenantId, account_name: 'e2e', guid, status: 'online' });

  // An operator of the tenant watching in realtime.
  const socket = await connectSocket(env.url, { token: t.adminToken });
  try {
    sim.control.incoming(guid, { conversation_id: 'wm-contact-1', text: 'hello from the gateway' });
    expect(await socket.waitForEvent('conversation.message', () => true, 'the conversation.message push')).toMatchObject({
      account_id: accountId,
      conversation_id: 'wm-contact-1',
      last_msg_content: 'hello from the gateway',
      new_messages: 1,
    });
  } finally {
    socket.close();
  }
  const conv = await waitFor(() => env.ctx.db('conversations').where({ account_id: accountId, conversation_id: 'wm-contact-1' }).first(), 'the conversation row');
  expect(conv).toMatchObject({ tenant_id: t.tenantId, last_msg_content: 'hello from the gateway', unread_count: 1 });

  sim.control.kick(guid, 'logout');
  await waitFor(async () => (await env.ctx.db('wework_accounts').where({ id: accountId }).first()).status === 'offline', 'the account to go offline after the logout callback');

  // The account moves inside the handler; the event row is finished just after.
  const events = await waitFor(() => http('GET', `${env.url}/api/v1/callbacks/events?guid=${guid}`, { token: t.adminToken }), 'both callback events processed', {
    until: (res) => res.body.data.length === 2 && res.body.data.every((e: { status: string }) => e.status === 'processed'),
  });
  expect(events.body.data.map((e: { event_type: string; status: string }) => [e.event_type, e.status])).toEqual([
    ['account.offline', 'processed'],
    ['messages', 'processed'],
  ]);
  expect(sim.callbacks.stats).toMatchObject({ failed_attempts: 0, dropped_after_retries: 0 });
});
