import { Readable } from 'node:stream';
import { GatewayError } from '../../src/gateway/errors';
import type { OfficialGatewayClient } from '../../src/gateway/official';
import { insertFile } from '../../src/db/files';
import { newId } from '../../src/db/ids';
import { tenantObjectKey } from '../../src/storage/types';
import { startAccountsEnv, history, type AccountsEnv } from '../accounts/support';
import { FakeWecom } from '../fixtures/wecom-official-fake';
import { createTenant, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { createOfficialAccount, fakeCorp, loginAndWait, officialClientFor } from './official-support';

/**
 * The `official` channel against a local fake of WeCom's server API (test/fixtures/wecom-official-fake.ts):
 * credentials sealed and masked, login by access token, the token's single flight across processes,
 * errcodes, the pacer's limits, media reuse, and customer group-sends confirmed by staff.
 */
let a: AccountsEnv;
let fake: FakeWecom;
let client: OfficialGatewayClient;
let t: TestTenant;

beforeAll(async () => {
  fake = new FakeWecom();
  await fake.start();
  a = await startAccountsEnv('official');
  client = officialClientFor(a.env.ctx, fake);
  a.env.ctx.gateway.register('official', client);
  t = await createTenant(a.env, { maxAccounts: 50 });
});
afterAll(async () => {
  await a?.close();
  await fake?.close();
});

const send = (guid: string, conversationId: string, content: Record<string, unknown>, key = newId()) =>
  client.sendMessage({ guid, conversationId, content: content as never, idempotencyKey: key });

test('an official account keeps its secret sealed (masked hint only) and goes online by fetching a token, QR steps skipped', async () => {
  const corp = fakeCorp();
  fake.addCorp(corp);
  const bad = await http('POST', `${a.env.url}/api/v1/accounts`, { token: t.adminToken, body: { account_name: 'o-bad', channel: 'official', credentials: { corp_id: corp.corpId, secret: 'short' } } });
  expect(bad.status).toBe(400);
  expect(bad.body.error.details.fields.map((f: { field: string }) => f.field).sort()).toEqual(['credentials.agent_id', 'credentials.secret']);

  const acct = await createOfficialAccount(a.env, t, corp);
  expect(acct.credentials.hint).toEqual({ corp_id: corp.corpId, agent_id: corp.agentId, secret: expect.stringMatching(/^se…6789$/), sender_userid: null });
  const everything = JSON.stringify([acct, (await http('GET', `${a.env.url}/api/v1/accounts`, { token: t.adminToken })).body, await a.env.ctx.db('audit_logs')]);
  expect(everything).not.toContain(corp.secret);
  expect((await a.env.ctx.db('channel_credentials').where({ account_id: acct.id }).first()).sealed).not.toContain(corp.secret);

  const before = fake.count('gettoken');
  const online = await loginAndWait(a.env, t, acct.id, 'online');
  expect(online.user_info).toMatchObject({ channel: 'official', corp_id: corp.corpId, agent_id: corp.agentId });
  expect(fake.count('gettoken')).toBe(before + 1);
  const steps = await history(a, t, acct.id);
  expect(steps.map((s) => s.new_status)).toEqual(['created', 'logging_in', 'online']);
  const last = (await http('GET', `${a.env.url}/api/v1/accounts/${acct.id}/history`, { token: t.adminToken })).body.data[0];
  expect(last).toMatchObject({ new_status: 'online', reason: 'official_credentials_valid', extra_data: { qr_steps: 'skipped', channel: 'official' } });
});

test('a wrong secret or an untrusted server IP ends the login in error, in plain words with errcode and errmsg', async () => {
  const corp = fakeCorp();
  fake.addCorp(corp);
  const wrong = await createOfficialAccount(a.env, t, { ...corp, secret: 'not-the-secret-at-all' });
  const failed = await loginAndWait(a.env, t, wrong.id, 'error');
  expect(failed.error_message).toMatch(/app secret is wrong.*errcode 40001: invalid credential/);

  const walled = fakeCorp();
  fake.addCorp({ ...walled, trustedIps: ['10.9.8.7'] });
  const acct = await createOfficialAccount(a.env, t, walled);
  const refused = await loginAndWait(a.env, t, acct.id, 'error');
  expect(refused.error_message).toMatch(/IP address is not in the app's trusted IP list.*errcode 60020: not allow to access from your ip/);
});

test('42001 under concurrency: two processes and 40 calls cause exactly one token refresh, and every call that met it is retried once', async () => {
  const corp = fakeCorp();
  fake.addCorp(corp);
  const acct = await createOfficialAccount(a.env, t, corp);
  await loginAndWait(a.env, t, acct.id, 'online');
  const other = officialClientFor(a.env.ctx, fake); // a second process: its own Redis connection and memory
  fake.expireTokens();
  const before = fake.count('gettoken');
  const sendsBefore = fake.count('message/send');
  let open!: () => void;
  fake.gettokenGate = new Promise((r) => (open = r));
  const members = ['alice', 'bob', 'carol'];
  const calls = Array.from({ length: 40 }, (_, i) =>
    (i % 2 ? other : client).sendMessage({ guid: acct.guid, conversationId: members[i % 3], content: { type: 'text', text: `n${i}` }, idempotencyKey: newId() }),
  );
  let results;
  try {
    // The refresh is in flight (held by the fake); every call either met 42001 or waits for the new token.
    await waitForCount(() => fake.count('gettoken') - before, 1);
    await waitForCount(() => fake.count('message/send') - sendsBefore, 1);
  } finally {
    open();
    fake.gettokenGate = undefined;
    results = await Promise.allSettled(calls);
  }
  expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
  expect(fake.count('gettoken') - before).toBe(1);
  // 40 sends, plus one retry for each that met 42001 (those that read the token after the refresh began waited instead).
  const answered = fake.count('message/send') - sendsBefore;
  expect(answered).toBeGreaterThan(40);
  expect(answered).toBeLessThanOrEqual(80);
  expect(results.every((r) => r.status === 'fulfilled' && r.value.gatewayMessageId.startsWith('app:'))).toBe(true);
});

async function waitForCount(read: () => number, n: number) {
  const { waitFor } = await import('../helpers/wait');
  await waitFor(() => read() >= n, `${n} calls seen by the fake`);
}

test('errcodes: 45009 is rate limited with backoff, -1 retryable, others permanent with errcode and errmsg; the pacer refuses before WeCom does', async () => {
  const corp = fakeCorp();
  fake.addCorp(corp);
  const acct = await createOfficialAccount(a.env, t, corp);
  await loginAndWait(a.env, t, acct.id, 'online');
  fake.failNext('message/send', 45009);
  await expect(send(acct.guid, 'alice', { type: 'text', text: 'hi' })).rejects.toMatchObject({ kind: 'rate_limited', code: 'wecom_45009', retryAfterMs: a.env.config.official.rateLimitBackoffMs });
  fake.failNext('message/send', -1);
  await expect(send(acct.guid, 'alice', { type: 'text', text: 'hi' })).rejects.toMatchObject({ kind: 'retryable', code: 'wecom_-1' });
  fake.failNext('message/send', 40008);
  const perm = await send(acct.guid, 'alice', { type: 'text', text: 'hi' }).catch((e: GatewayError) => e);
  expect(perm).toMatchObject({ kind: 'permanent', code: 'wecom_40008' });
  expect((perm as Error).message).toContain('errcode 40008: injected errcode 40008');
  await expect(send(acct.guid, 'nobody', { type: 'text', text: 'hi' })).rejects.toMatchObject({ kind: 'permanent', code: 'wecom_81013' });
  // A key whose send WeCom refused may be sent again; a sent key answers its first result.
  const key = newId();
  fake.failNext('message/send', -1);
  await expect(send(acct.guid, 'bob', { type: 'text', text: 'again' }, key)).rejects.toMatchObject({ kind: 'retryable' });
  const first = await send(acct.guid, 'bob', { type: 'text', text: 'again' }, key);
  expect(await send(acct.guid, 'bob', { type: 'text', text: 'again' }, key)).toEqual({ gatewayMessageId: first.gatewayMessageId, duplicate: true });

  // The pacer: per member per minute, and per corp per API.
  const paced = officialClientFor(a.env.ctx, fake, { memberMessagesPerMinute: 2, apiCallsPerMinute: 100 });
  const seen = fake.count('message/send');
  const go = (to: string) => paced.sendMessage({ guid: acct.guid, conversationId: to, content: { type: 'text', text: 'p' }, idempotencyKey: newId() });
  await go('carol');
  await go('carol');
  await expect(go('carol')).rejects.toMatchObject({ kind: 'rate_limited', code: 'wecom_member_minute_limit' });
  expect(fake.count('message/send') - seen).toBe(2);
  const corpPaced = officialClientFor(a.env.ctx, fake, { apiCallsPerMinute: 1 });
  const corp2 = fakeCorp();
  fake.addCorp(corp2);
  const acct2 = await createOfficialAccount(a.env, t, corp2);
  await loginAndWait(a.env, t, acct2.id, 'online');
  await corpPaced.sendMessage({ guid: acct2.guid, conversationId: 'alice', content: { type: 'text', text: 'x' }, idempotencyKey: newId() });
  const refused = await corpPaced.sendMessage({ guid: acct2.guid, conversationId: 'bob', content: { type: 'text', text: 'x' }, idempotencyKey: newId() }).catch((e: GatewayError) => e);
  expect(refused).toMatchObject({ kind: 'rate_limited', code: 'wecom_api_pace' });
  expect((refused as GatewayError).retryAfterMs).toBeGreaterThan(0);
});

test('60020 mid-session: messages wait (account offline, not failed) and the watchdog sees the account offline', async () => {
  const corp = fakeCorp();
  fake.addCorp(corp);
  const acct = await createOfficialAccount(a.env, t, corp);
  await loginAndWait(a.env, t, acct.id, 'online');
  fake.corps.get(corp.corpId)!.trustedIps = ['10.1.1.1'];
  const err = await send(acct.guid, 'alice', { type: 'text', text: 'hi' }).catch((e: GatewayError) => e);
  expect(err).toMatchObject({ kind: 'account_offline', code: 'wecom_60020' });
  expect((err as Error).message).toContain("trusted IP list");
  expect(await client.getStatuses([acct.guid])).toEqual([{ guid: acct.guid, online: false, lastHeartbeat: null }]);
});

test('media: a platform file is uploaded once and its media_id reused for later sends', async () => {
  const corp = fakeCorp();
  fake.addCorp(corp);
  const acct = await createOfficialAccount(a.env, t, corp);
  await loginAndWait(a.env, t, acct.id, 'online');
  const fileId = newId();
  const objectKey = tenantObjectKey(t.tenantId, 'media', fileId);
  const data = Buffer.from('%PDF-1.4 a small pdf for the fake');
  await a.env.ctx.storage.put(objectKey, Readable.from(data), { contentType: 'application/pdf', size: data.length });
  await insertFile(a.env.ctx.db, { id: fileId, tenant_id: t.tenantId, object_key: objectKey, file_name: 'a.pdf', content_type: 'application/pdf', size_bytes: data.length, purpose: 'media', sha256: null, created_by: t.adminId });
  const uploads = fake.count('media/upload');
  for (const to of ['alice', 'bob', 'carol']) await send(acct.guid, to, { type: 'file', file_id: fileId });
  expect(fake.count('media/upload') - uploads).toBe(1);
  const sent = fake.appMessages.filter((m) => m.msgtype === 'file' && m.corp_id === corp.corpId);
  expect(new Set(sent.map((m) => (m.file as { media_id: string }).media_id)).size).toBe(1);
  // Another tenant's file is not found through this account.
  await expect(send(acct.guid, 'alice', { type: 'image', file_id: newId() })).rejects.toMatchObject({ kind: 'permanent', code: 'file_not_found' });
});

test('customer group-send: pending until staff confirm, then each customer\'s status (sent, not a friend, receive limit) read with cursors', async () => {
  const corp = fakeCorp();
  fake.addCorp(corp);
  fake.addCustomer(corp.corpId, 'alice', 'wmCustomerA');
  fake.addCustomer(corp.corpId, 'alice', 'wmCustomerB');
  const acct = await createOfficialAccount(a.env, t, corp, { sender_userid: 'alice' });
  await loginAndWait(a.env, t, acct.id, 'online');
  fake.pageSize = 1;
  try {
    const toA = await send(acct.guid, 'external:wmCustomerA', { type: 'link', title: 'Sale', url: 'https://example.test/sale' });
    const toStranger = await send(acct.guid, 'external:wmStranger', { type: 'text', text: 'hello' });
    expect(toA.gatewayMessageId).toMatch(/^gs:msg/);
    const waiting = await client.queryMessageStatus(acct.guid, [toA.gatewayMessageId, toStranger.gatewayMessageId]);
    expect(waiting).toEqual([
      { messageId: toA.gatewayMessageId, status: 'sent' },
      { messageId: toStranger.gatewayMessageId, status: 'failed', errorCode: 'not_a_friend', errorMessage: expect.stringContaining('not (or no longer) a friend') },
    ]);
    fake.confirm(toA.gatewayMessageId.slice(3), 'alice');
    expect(await client.queryMessageStatus(acct.guid, [toA.gatewayMessageId])).toEqual([{ messageId: toA.gatewayMessageId, status: 'delivered' }]);

    // The pacer keeps the customer's receive limit (1 per period by default): a second send fails at once.
    await expect(send(acct.guid, 'external:wmCustomerA', { type: 'text', text: 'again' })).rejects.toMatchObject({ kind: 'permanent', code: 'customer_receive_limit' });
    // WeCom's own limit answers status 3 once staff confirm (the platform's pacer did not know of a send made elsewhere).
    const viaOther = officialClientFor(a.env.ctx, fake, { customerReceiveLimit: 0 });
    const twice = await viaOther.sendMessage({ guid: acct.guid, conversationId: 'external:wmCustomerA', content: { type: 'text', text: 'x' }, idempotencyKey: newId() });
    fake.confirm(twice.gatewayMessageId.slice(3), 'alice');
    expect(await client.queryMessageStatus(acct.guid, [twice.gatewayMessageId])).toEqual([
      { messageId: twice.gatewayMessageId, status: 'failed', errorCode: 'receive_limit_reached', errorMessage: expect.stringContaining('receive limit reached') },
    ]);
    // Customer groups go with the sender; a group the sender does not own fails at once.
    fake.addGroupChat(corp.corpId, 'alice', 'wrGroup1');
    const toGroup = await send(acct.guid, 'groupchat:wrGroup1', { type: 'text', text: 'hi group' });
    expect(fake.groupSends.get(toGroup.gatewayMessageId.slice(3))?.body).toMatchObject({ chat_type: 'group', sender: 'alice', chat_id_list: ['wrGroup1'] });
    await expect(send(acct.guid, 'groupchat:wrNotOurs', { type: 'text', text: 'hi' })).rejects.toMatchObject({ kind: 'permanent', code: 'wecom_41049' });
  } finally {
    fake.pageSize = 1000;
  }
});
