import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HttpGatewayClient } from '../../src/gateway/http-client';
import { createTenant, type TestTenant } from '../helpers/env';
import { freePort } from '../helpers/ports';
import { PROCESS_TEST_TIMEOUT_MS, spawnRole, type SpawnedRole } from '../helpers/processes';
import { waitFor } from '../helpers/wait';
import { onlineWechatyAccounts, startWechatyEnv, WX_KEY, type WechatyEnv } from './wechaty-support';

/**
 * Two copies of the gateway-wechaty role over one Redis: sessions live on the copy that logged them
 * in, and a request reaching the other copy goes to the owner (a single send relayed, a batch split
 * per owner, a status query asked of the owner). Each send reaches the provider once, whichever copy
 * took it; when the owner dies, the other copy answers `retryable` until it has taken the session over.
 */
jest.setTimeout(PROCESS_TEST_TIMEOUT_MS);

let w: WechatyEnv;
let t: TestTenant;
let second: SpawnedRole;
let secondUrl: string;
let secondCache: string;
let viaSecond: HttpGatewayClient;

beforeAll(async () => {
  w = await startWechatyEnv('wxcopies');
  t = await createTenant(w.a.env, { maxAccounts: 20 });
  const port = await freePort();
  secondUrl = `http://127.0.0.1:${port}`;
  secondCache = mkdtempSync(path.join(os.tmpdir(), 'wwp-wx-gw2-'));
  second = spawnRole({
    role: 'gateway-wechaty',
    config: w.a.env.config,
    env: { ...w.gatewayEnv, WECHATY_GATEWAY_PORT: String(port), WECHATY_CACHE_DIR: secondCache, HOME: secondCache },
    label: 'gateway-wechaty (second copy)',
  });
  await second.waitForOutput(/wechaty gateway listening/, 'second gateway copy start-up');
  viaSecond = new HttpGatewayClient({ url: secondUrl, apiKey: WX_KEY, timeoutMs: 30_000, batchSends: false });
}, PROCESS_TEST_TIMEOUT_MS);
afterAll(async () => {
  await second?.stop().catch(() => second.kill());
  if (secondCache) rmSync(secondCache, { recursive: true, force: true });
  await w?.close();
});

const text = (x: string) => ({ type: 'text' as const, text: x });
const batchVia = (url: string, sends: unknown[]) =>
  fetch(`${url}/messages/batch`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': WX_KEY }, body: JSON.stringify({ sends }) }).then(async (r) => ({
    status: r.status,
    body: (await r.json()) as { results: Array<{ message_id?: string; duplicate?: boolean; status?: number; error?: { code: string } }> },
  }));

test('sends, batches and status queries reaching the copy without the session go to its owner; each send reaches the provider once', async () => {
  const tokens = ['insecure_copies_token_A', 'insecure_copies_token_B'];
  // Logged in through the first copy (the platform's configured gateway URL): both sessions live there.
  const accts = await onlineWechatyAccounts(w, t, tokens);
  const [a, b] = accts;

  // A single send through the second copy is relayed to the owner; the same key through the first copy is a duplicate.
  const relayed = await viaSecond.sendMessage({ guid: a.guid, conversationId: 'c-a', content: text('relayed'), idempotencyKey: 'copies-1' });
  expect(relayed.duplicate).toBe(false);
  expect(await w.client.sendMessage({ guid: a.guid, conversationId: 'c-a', content: text('relayed'), idempotencyKey: 'copies-1' })).toEqual({ gatewayMessageId: relayed.gatewayMessageId, duplicate: true });

  // A batch through the second copy: both accounts' sends go to the owner in one forwarded batch, results in order.
  const batch = await batchVia(secondUrl, [
    { guid: a.guid, idempotency_key: 'copies-2', conversation_id: 'c-a', content: text('a batch') },
    { guid: b.guid, idempotency_key: 'copies-3', conversation_id: 'c-b', content: text('b batch') },
    { guid: a.guid, idempotency_key: 'copies-1', conversation_id: 'c-a', content: text('relayed') },
    { guid: 'wx-no-such-instance', idempotency_key: 'copies-4', conversation_id: 'c-x', content: text('nowhere') },
  ]);
  expect(batch.status).toBe(200);
  expect(batch.body.results).toEqual([
    { message_id: expect.any(String), duplicate: false },
    { message_id: expect.any(String), duplicate: false },
    { message_id: relayed.gatewayMessageId, duplicate: true },
    expect.objectContaining({ status: 404, error: expect.objectContaining({ code: 'instance_not_found' }) }),
  ]);

  // The status query through the second copy asks the owner: both online.
  const statuses = await viaSecond.getStatuses([a.guid, b.guid]);
  expect(statuses.map((s) => [s.guid, s.online])).toEqual([
    [a.guid, true],
    [b.guid, true],
  ]);

  expect((await w.peer.sent(tokens[0])).map((s) => [s.text, s.message_id])).toEqual([
    ['relayed', relayed.gatewayMessageId],
    ['a batch', batch.body.results[0].message_id],
  ]);
  expect((await w.peer.sent(tokens[1])).map((s) => [s.text, s.message_id])).toEqual([['b batch', batch.body.results[1].message_id]]);

  // All of that went through the owner: the second copy hosts no session.
  expect(await fetch(`${secondUrl}/health`, { headers: { 'x-api-key': WX_KEY } }).then((r) => r.json())).toMatchObject({ sessions: 0 });

  // The owner dies: the second copy answers retryable (never sent) until it has taken the session over.
  expect(await w.gateway.kill()).toMatchObject({ signal: 'SIGKILL' });
  const meanwhile = await batchVia(secondUrl, [{ guid: a.guid, idempotency_key: 'copies-5', conversation_id: 'c-a', content: text('after the kill') }]);
  // Its lease (3 s here) has not run out yet: the owner is still the dead copy.
  expect(meanwhile.body.results).toEqual([{ status: 503, error: expect.objectContaining({ code: 'owner_unreachable' }) }]);
  await waitFor(async () => (await viaSecond.getStatus(a.guid)).online, 'the second copy hosting the session', { timeoutMs: 60_000 });
  const resent = await viaSecond.sendMessage({ guid: a.guid, conversationId: 'c-a', content: text('after the kill'), idempotencyKey: 'copies-5' });
  // Keys the dead owner had sent stay sent.
  expect(await viaSecond.sendMessage({ guid: a.guid, conversationId: 'c-a', content: text('a batch'), idempotencyKey: 'copies-2' })).toEqual({ gatewayMessageId: batch.body.results[0].message_id, duplicate: true });
  const sentA = await w.peer.sent(tokens[0]);
  expect(sentA.map((s) => s.text)).toEqual(['relayed', 'a batch', 'after the kill']);
  expect(sentA[2].message_id).toBe(resent.gatewayMessageId);
});
