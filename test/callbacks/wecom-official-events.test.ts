import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { credentialHint } from '../../src/channels/channels';
import { processCallbackEvent } from '../../src/callbacks/process-event';
import { encryptToXml, type WxBizConfig } from '../../src/callbacks/wxbizmsgcrypt';
import { saveSecret } from '../../src/db/channel-credentials';
import { newId } from '../../src/db/ids';
import { NOTIFY } from '../../src/gateway/callback-protocol';
import { createTenant, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { connectSocket } from '../helpers/socket';

/**
 * WeCom's own callbacks mapped onto official-channel accounts: change_external_contact → customers
 * (wecom_contacts) and their conversations; app messages and events → the member's conversation
 * (pushed as conversation.message);
 * unknown kinds stay stored and ignored.
 */
let env: TestEnv;
let tenant: TestTenant;
let accountId: string;
const cfg: WxBizConfig = { token: 'Tok3n', encodingAesKey: randomBytes(32).toString('base64').slice(0, 43), receiveId: `ww${randomBytes(6).toString('hex')}` };
const AGENT = 1000009;

beforeAll(async () => {
  env = await createTestEnv('wecomofficial', { api: true });
  tenant = await createTenant(env);
  const put = await http('PUT', `${env.url}/api/v1/callbacks/wecom/config`, { token: tenant.adminToken, body: { corp_id: cfg.receiveId, token: cfg.token, encoding_aes_key: cfg.encodingAesKey } });
  if (put.status !== 200) throw new Error(`configure: ${put.status}`);
  accountId = newId();
  await env.ctx.db('wework_accounts').insert({ id: accountId, tenant_id: tenant.tenantId, account_name: 'official', guid: `official_${accountId}`, channel: 'official', status: 'online' });
  const secret = { corp_id: cfg.receiveId, agent_id: AGENT, secret: 'app-secret-0123456789' };
  await saveSecret(env.ctx.db, env.config.channels.keyRing, { tenantId: tenant.tenantId, accountId, channel: 'official', secret, hint: credentialHint('official', secret) });
});
afterAll(() => env?.close());

let seq = 0;
/** Posts one encrypted callback as WeCom would and processes the stored event; answers the outcome. */
async function deliver(inner: string) {
  const ts = String(Math.floor(Date.now() / 1000));
  const nonce = `n${++seq}`;
  const { encrypt, signature } = encryptToXml(cfg, inner, ts, nonce);
  const body = `<xml><ToUserName><![CDATA[${cfg.receiveId}]]></ToUserName><Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>`;
  const res = await request(`${env.url}/callbacks/wecom/${tenant.tenantId}?${new URLSearchParams({ msg_signature: signature, timestamp: ts, nonce })}`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body });
  expect(res.statusCode).toBe(200);
  await res.body.text();
  const row = await env.ctx.db('callback_events').where({ notify_type: NOTIFY.wecomOfficial, tenant_id: tenant.tenantId }).orderBy('received_time', 'desc').orderBy('id', 'desc').first();
  return processCallbackEvent(env.ctx, row.id, {});
}

const contactEvent = (changeType: string, external: string, createTime: number, staff = 'alice') =>
  `<xml><ToUserName><![CDATA[${cfg.receiveId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>${createTime}</CreateTime>` +
  `<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[${changeType}]]></ChangeType>` +
  `<UserID><![CDATA[${staff}]]></UserID><ExternalUserID><![CDATA[${external}]]></ExternalUserID><State><![CDATA[]]></State><WelcomeCode><![CDATA[w]]></WelcomeCode></xml>`;

const conversation = (id: string) => env.ctx.db('conversations').where({ account_id: accountId, conversation_id: id }).first();
const contacts = (external: string) => env.ctx.db('wecom_contacts').where({ account_id: accountId, external_userid: external }).orderBy('staff_userid').select('staff_userid', 'status', 'last_change');

test('change_external_contact: add makes the customer and its conversation; deletes by both staff end it; a late older add changes nothing', async () => {
  const t0 = Math.floor(Date.now() / 1000) - 100;
  expect(await deliver(contactEvent('add_external_contact', 'wmCust1', t0))).toMatchObject({ outcome: 'processed' });
  expect(await deliver(contactEvent('add_external_contact', 'wmCust1', t0 + 1, 'bob'))).toMatchObject({ outcome: 'processed' });
  expect(await contacts('wmCust1')).toEqual([
    { staff_userid: 'alice', status: 'active', last_change: 'add_external_contact' },
    { staff_userid: 'bob', status: 'active', last_change: 'add_external_contact' },
  ]);
  expect(await conversation('external:wmCust1')).toMatchObject({ conversation_type: 'private', is_active: 1 });

  await deliver(contactEvent('del_follow_user', 'wmCust1', t0 + 10));
  expect((await conversation('external:wmCust1')).is_active).toBe(1); // bob still has the customer
  await deliver(contactEvent('del_external_contact', 'wmCust1', t0 + 11, 'bob'));
  expect((await conversation('external:wmCust1')).is_active).toBe(0);
  // WeCom re-sends an older add late: the newer delete stands.
  await deliver(contactEvent('edit_external_contact', 'wmCust1', t0 + 5));
  expect(await contacts('wmCust1')).toEqual([
    { staff_userid: 'alice', status: 'deleted', last_change: 'del_follow_user' },
    { staff_userid: 'bob', status: 'deleted', last_change: 'del_external_contact' },
  ]);
  expect((await conversation('external:wmCust1')).is_active).toBe(0);
});

test('messages and events to the app land in the member conversation; other apps, other corps and unknown kinds stay ignored', async () => {
  const now = Math.floor(Date.now() / 1000);
  const text = (agent: number, content: string) =>
    `<xml><ToUserName><![CDATA[${cfg.receiveId}]]></ToUserName><FromUserName><![CDATA[carol]]></FromUserName><CreateTime>${now}</CreateTime>` +
    `<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[${content}]]></Content><MsgId>${Date.now()}</MsgId><AgentID>${agent}</AgentID></xml>`;
  const socket = await connectSocket(env.url, { token: tenant.adminToken });
  try {
    expect(await deliver(text(AGENT, 'hello app'))).toMatchObject({ outcome: 'processed' });
    // Pushed live like a gateway's incoming message, and committed for the tenant's webhooks.
    await socket.waitForEvent('conversation.message', (p) => p.conversation_id === 'carol' && p.last_msg_content === 'hello app', 'conversation.message for the app message', 5_000);
  } finally {
    socket.close();
  }
  expect(await conversation('carol')).toMatchObject({ conversation_type: 'private', last_msg_content: 'hello app', unread_count: 1, is_active: 1 });
  const click =
    `<xml><ToUserName><![CDATA[${cfg.receiveId}]]></ToUserName><FromUserName><![CDATA[carol]]></FromUserName><CreateTime>${now + 1}</CreateTime>` +
    `<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[enter_agent]]></Event><EventKey><![CDATA[]]></EventKey><AgentID>${AGENT}</AgentID></xml>`;
  expect(await deliver(click)).toMatchObject({ outcome: 'processed' });
  expect(await conversation('carol')).toMatchObject({ last_msg_content: '[event enter_agent]', unread_count: 1 });

  expect(await deliver(text(AGENT + 1, 'to another app'))).toEqual({ outcome: 'ignored', note: `no official account of corp ${cfg.receiveId} and agent ${AGENT + 1}` });
  const unknown = `<xml><ToUserName><![CDATA[${cfg.receiveId}]]></ToUserName><CreateTime>${now}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_contact]]></Event></xml>`;
  expect(await deliver(unknown)).toEqual({ outcome: 'ignored', note: 'no mapping for event change_contact' });
  const transfer = contactEvent('transfer_fail', 'wmCust2', now);
  expect(await deliver(transfer)).toEqual({ outcome: 'ignored', note: 'change_external_contact transfer_fail has no mapping' });
  expect(await contacts('wmCust2')).toEqual([]);
});
