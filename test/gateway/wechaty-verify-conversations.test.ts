import { waitForStatus } from '../accounts/support';
import { createTenant, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { PROCESS_TEST_TIMEOUT_MS } from '../helpers/processes';
import { SCAN } from '../helpers/puppet-peer';
import { connectSocket } from '../helpers/socket';
import { waitFor } from '../helpers/wait';
import { createWechatyAccount, loginByScan, startWechatyEnv, type WechatyEnv } from './wechaty-support';

/**
 * The gateway-wechaty role against a real PuppetServer with PuppetMock: the verify-code step of a WeCom
 * login (the peer speaks juzi's verify-code event and `EnterVerifyCode` RPC, see
 * test/fixtures/puppet-peer.ts), and conversations: synced from the puppet's contact and room lists,
 * updated by incoming messages with `conversation.message` pushed to the tenant's operators.
 */
jest.setTimeout(PROCESS_TEST_TIMEOUT_MS);

let w: WechatyEnv;
let t: TestTenant;
const api = (p: string) => `${w.a.env.url}/api/v1${p}`;

beforeAll(async () => {
  w = await startWechatyEnv('wxverify');
  t = await createTenant(w.a.env, { maxAccounts: 20 });
}, PROCESS_TEST_TIMEOUT_MS);
afterAll(async () => {
  await w?.close();
});

/** Through the API up to the verify-code step: QR scanned and confirmed on the phone, then the provider asks for a code. */
async function toNeedVerify(token: string, code: string): Promise<{ id: string; guid: string }> {
  const acct = await createWechatyAccount(w, t, token);
  await w.peer.scan(token, SCAN.Waiting, `https://login.mock.test/qr/${token}`);
  expect((await http('POST', api(`/accounts/${acct.id}/login`), { token: t.adminToken })).status).toBe(202);
  await waitForStatus(w.a, t, acct.id, 'waiting_scan', 40_000);
  await w.peer.scan(token, SCAN.Scanned);
  await waitForStatus(w.a, t, acct.id, 'waiting_confirm', 20_000);
  await w.peer.requestVerifyCode(token, code);
  await waitForStatus(w.a, t, acct.id, 'need_verify', 20_000);
  return acct;
}

const verify = (id: string, code: string) => http('POST', api(`/accounts/${id}/verify`), { token: t.adminToken, body: { code } });

test('verify code: the provider asks → need_verify; a wrong code is refused and the step stays; the right one logs in', async () => {
  const token = 'insecure_wx_verify_token_V1';
  const acct = await toNeedVerify(token, '135790');

  const wrong = await verify(acct.id, '000000');
  expect(wrong.status).toBe(422);
  expect(wrong.body.error).toMatchObject({ code: 'verify_code_wrong', details: { field: 'code' } });
  expect((await http('GET', api(`/accounts/${acct.id}`), { token: t.adminToken })).body.status).toBe('need_verify');

  const right = await verify(acct.id, '135790');
  expect(right.status).toBe(200);
  expect(right.body).toMatchObject({ status: 'online' });
  // Both codes reached the provider through enterVerifyCode, in order.
  expect(await w.peer.enteredCodes(token)).toEqual(['000000', '135790']);
  expect(await w.client.getStatus(acct.guid)).toMatchObject({ online: true, userInfo: { name: 'Verified Operator' } });

  const steps = (await http('GET', api(`/accounts/${acct.id}/history?limit=50`), { token: t.adminToken })).body.data.reverse();
  const path = steps.map((h: any) => h.new_status);
  expect(path.slice(path.indexOf('need_verify'))).toEqual(['need_verify', 'need_verify', 'online']);
  expect(steps.find((h: any) => h.reason === 'verify_failed')).toMatchObject({ error_message: 'wrong_code' });
});

test('verify code: an expired step ends the login attempt; a code entered after it is not accepted', async () => {
  const token = 'insecure_wx_verify_token_V2';
  const acct = await toNeedVerify(token, '246801');
  await w.peer.expireVerifyCode(token);

  const late = await verify(acct.id, '246801');
  expect(late.status).toBe(422);
  expect(late.body.error.code).toBe('verify_code_expired');
  const after = (await http('GET', api(`/accounts/${acct.id}`), { token: t.adminToken })).body;
  expect(after.status).not.toBe('need_verify');
  expect(after.status).not.toBe('online');
  expect((await w.client.getStatus(acct.guid)).online).toBe(false);
  // Still nothing to verify: the API refuses a further code without asking the provider.
  const again = await verify(acct.id, '246801');
  expect(again.status).toBe(409);
  expect(await w.peer.enteredCodes(token)).toEqual(['246801']);
});

test('conversations sync from the puppet contact and room lists; an incoming message updates one and is pushed as conversation.message', async () => {
  const token = 'insecure_wx_conversations_C1';
  const acct = await createWechatyAccount(w, t, token);
  await loginByScan(w, t, acct, token);
  const [dora, eric] = await w.peer.contacts(token, ['Dora', 'Eric']);
  const room = await w.peer.room(token, 'Launch room', [dora, eric]);

  expect((await http('POST', api(`/accounts/${acct.id}/conversations/sync`), { token: t.adminToken })).status).toBe(202);
  const listed = await waitFor(
    async () => (await http('GET', api(`/accounts/${acct.id}/conversations?limit=100`), { token: t.adminToken })).body.data as any[],
    'the synced conversations',
    { timeoutMs: 30_000, until: (rows) => rows.length >= 3 },
  );
  const byId = new Map(listed.map((c) => [c.conversation_id, c]));
  expect(byId.get(dora)).toMatchObject({ conversation_name: 'Dora', conversation_type: 'private' });
  expect(byId.get(eric)).toMatchObject({ conversation_name: 'Eric', conversation_type: 'private' });
  // The mock puts the account itself in the room too.
  expect(byId.get(room)).toMatchObject({ conversation_name: 'Launch room', conversation_type: 'group' });
  expect(byId.get(room).member_count).toBeGreaterThanOrEqual(2);
  // The account's own contact is not a conversation.
  const self = (await w.client.getStatus(acct.guid)).userInfo?.id;
  expect(self && byId.has(self)).toBeFalsy();

  const socket = await connectSocket(w.a.env.url, { token: t.adminToken });
  try {
    await w.peer.incoming(token, dora, 'are we launching?', room);
    const pushed = await socket.waitForEvent('conversation.message', (p) => p.account_id === acct.id, 'conversation.message for the room', 30_000);
    expect(pushed).toMatchObject({ account_id: acct.id, conversation_id: room, conversation_type: 'group', last_msg_content: 'are we launching?', sender_id: dora });
    const conv = await waitFor(
      () => w.a.env.ctx.db('conversations').where({ account_id: acct.id, conversation_id: room }).first(),
      'the room conversation updated',
      { timeoutMs: 30_000, until: (c) => c?.last_msg_content === 'are we launching?' },
    );
    expect(conv).toMatchObject({ conversation_name: 'Launch room', unread_count: 1 });
  } finally {
    socket.close();
  }
});
