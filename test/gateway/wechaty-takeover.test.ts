import { isGatewayError } from '../../src/gateway/errors';
import { waitForStatus } from '../accounts/support';
import { createTenant, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { PROCESS_TEST_TIMEOUT_MS } from '../helpers/processes';
import { waitFor } from '../helpers/wait';
import { createWechatyAccount, onlineWechatyAccounts, startWechatyEnv, type WechatyEnv } from './wechaty-support';

/**
 * The gateway process dies (SIGKILL) with accounts online: a restarted copy finds them in Redis, takes
 * their sessions over without a QR (the provider kept them logged in), answers keys it had already
 * sent as duplicates, and sends again. A token the provider refuses ends the login in error, once.
 */
jest.setTimeout(PROCESS_TEST_TIMEOUT_MS);

let w: WechatyEnv;
let t: TestTenant;

beforeAll(async () => {
  w = await startWechatyEnv('wxtake');
  t = await createTenant(w.a.env, { maxAccounts: 20 });
}, PROCESS_TEST_TIMEOUT_MS);
afterAll(async () => {
  await w?.close();
});

test('SIGKILL of the gateway: sessions are taken over, sent keys stay sent, sends resume', async () => {
  const tokens = ['insecure_take_over_A', 'insecure_take_over_B'];
  const accts = await onlineWechatyAccounts(w, t, tokens);
  const first = await Promise.all(
    accts.map((a, i) => w.client.sendMessage({ guid: a.guid, conversationId: 'before', content: { type: 'text', text: `before ${i}` }, idempotencyKey: `k-before-${i}` })),
  );

  expect(await w.gateway.kill()).toMatchObject({ signal: 'SIGKILL' });
  const down = await w.client.sendMessage({ guid: accts[0].guid, conversationId: 'x', content: { type: 'text', text: 'down' }, idempotencyKey: 'k-down' }).catch((e) => e);
  expect(isGatewayError(down) && down.kind).toBe('retryable');

  await w.restartGateway();
  for (const a of accts) {
    await waitFor(async () => (await w.client.getStatus(a.guid)).online, `session ${a.guid} taken over and online`, { timeoutMs: 60_000 });
  }
  // No QR was needed: the provider never saw a new scan, and the platform still has the accounts online.
  for (const a of accts) expect((await http('GET', `${w.a.env.url}/api/v1/accounts/${a.id}`, { token: t.adminToken })).body.status).toBe('online');

  for (const [i, a] of accts.entries()) {
    const again = await w.client.sendMessage({ guid: a.guid, conversationId: 'before', content: { type: 'text', text: `before ${i}` }, idempotencyKey: `k-before-${i}` });
    expect(again).toEqual({ gatewayMessageId: first[i].gatewayMessageId, duplicate: true });
    await w.client.sendMessage({ guid: a.guid, conversationId: 'after', content: { type: 'text', text: `after ${i}` }, idempotencyKey: `k-after-${i}` });
  }
  for (const [i, token] of tokens.entries()) {
    expect((await w.peer.sent(token)).map((s) => s.text)).toEqual([`before ${i}`, `after ${i}`]);
  }
});

test('a token the provider refuses: the login ends in error with the reason, and is not retried', async () => {
  const acct = await createWechatyAccount(w, t, 'insecure_refused_right');
  // Same endpoint, another token: the PuppetServer refuses it.
  const res = await http('PUT', `${w.a.env.url}/api/v1/accounts/${acct.id}/credentials`, {
    token: t.adminToken,
    body: { credentials: { token: 'insecure_refused_wrong', endpoint: `127.0.0.1:${acct.port}`, tls: { insecure: true } } },
  });
  expect(res.status).toBe(200);
  expect((await http('POST', `${w.a.env.url}/api/v1/accounts/${acct.id}/login`, { token: t.adminToken })).status).toBe(202);
  const failed = await waitFor(
    async () => (await http('GET', `${w.a.env.url}/api/v1/accounts/${acct.id}`, { token: t.adminToken })).body,
    'the login to end',
    { timeoutMs: 60_000, until: (a) => a.status === 'error' || a.status === 'offline' },
  );
  expect(failed).toMatchObject({ status: 'error' });
  expect(failed.error_message).toMatch(/refused the token/);
  // The provider's mock was never started for the wrong token.
  expect((await w.peer.state('insecure_refused_right')).starts).toBe(0);
  expect(w.gateway.output().match(/provider refused the token; not retrying/g)?.length).toBe(1);
  expect(w.gateway.output()).not.toContain('insecure_refused_wrong');
  await waitForStatus(w.a, t, acct.id, 'error');
});
