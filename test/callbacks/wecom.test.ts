import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { processCallbackEvent } from '../../src/callbacks/process-event';
import { computeSignature, encryptMessage, encryptToXml, type WxBizConfig } from '../../src/callbacks/wxbizmsgcrypt';
import { parseJson } from '../../src/db/json';
import { NOTIFY } from '../../src/gateway/callback-protocol';
import { createTenant, createTestEnv, createUserWithRole, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { rejectedCount } from './support';

const newAesKey = () => randomBytes(32).toString('base64').slice(0, 43);
/** Signed requests must carry a time within CALLBACK_TOLERANCE_SECONDS of now. */
const nowTs = (offsetSeconds = 0) => String(Math.floor(Date.now() / 1000) + offsetSeconds);

describe('WeCom official callback endpoints', () => {
  let env: TestEnv;
  let tenant: TestTenant;
  const cfg: WxBizConfig = { token: 'Tok3n', encodingAesKey: newAesKey(), receiveId: 'ww1234567890abcdef' };
  const url = (tenantId: string, q: Record<string, string>) => `${env.url}/callbacks/wecom/${tenantId}?${new URLSearchParams(q)}`;

  beforeAll(async () => {
    env = await createTestEnv('cbwecom', { api: true });
    // The tenant WeCom posts to, configured here so each test stands alone (the configuration test uses its own).
    tenant = await createTenant(env);
    const put = await http('PUT', `${env.url}/api/v1/callbacks/wecom/config`, {
      token: tenant.adminToken,
      body: { corp_id: cfg.receiveId, token: cfg.token, encoding_aes_key: cfg.encodingAesKey },
    });
    if (put.status !== 200) throw new Error(`configure WeCom callbacks: ${put.status} ${JSON.stringify(put.body)}`);
  });
  afterAll(() => env.close());

  test('configuration: validated, set by tenant:write, secrets never returned', async () => {
    const fresh = await createTenant(env);
    const bad = await http('PUT', `${env.url}/api/v1/callbacks/wecom/config`, {
      token: fresh.adminToken,
      body: { corp_id: cfg.receiveId, token: 'has space', encoding_aes_key: 'short' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.fields.map((f: { field: string }) => f.field).sort()).toEqual(['body.encoding_aes_key', 'body.token']);
    expect((await http('GET', `${env.url}/api/v1/callbacks/wecom/config`, { token: fresh.adminToken })).status).toBe(404);

    const put = await http('PUT', `${env.url}/api/v1/callbacks/wecom/config`, {
      token: fresh.adminToken,
      body: { corp_id: cfg.receiveId, token: cfg.token, encoding_aes_key: cfg.encodingAesKey },
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ corp_id: cfg.receiveId, token_set: true, encoding_aes_key_set: true, callback_url: expect.stringContaining(`/callbacks/wecom/${fresh.tenantId}`) });
    const viewer = await createUserWithRole(env, fresh, 'viewer');
    const got = await http('GET', `${env.url}/api/v1/callbacks/wecom/config`, { token: viewer.token });
    expect(got.status).toBe(200);
    expect(JSON.stringify(got.body)).not.toContain(cfg.encodingAesKey);
    expect(JSON.stringify(got.body)).not.toContain(cfg.token);
    expect((await http('PUT', `${env.url}/api/v1/callbacks/wecom/config`, { token: viewer.token, body: {} })).status).toBe(403);
    expect(await env.ctx.db('audit_logs').where({ action: 'wecom_callback_config.update', tenant_id: fresh.tenantId }).first()).toBeTruthy();
  });

  test('URL verification answers the decrypted echostr as plain text', async () => {
    const echo = encryptMessage(cfg.encodingAesKey, '8217357917374567', cfg.receiveId);
    const ts = nowTs();
    const q = { timestamp: ts, nonce: 'abc', echostr: echo, msg_signature: computeSignature(cfg.token, ts, 'abc', echo) };
    const res = await request(url(tenant.tenantId, q));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(await res.body.text()).toBe('8217357917374567');
  });

  test('URL verification refuses a bad signature, a wrong corp id and unknown tenants', async () => {
    const before = await rejectedCount(env, 'wecom_40001');
    const echo = encryptMessage(cfg.encodingAesKey, '1', cfg.receiveId);
    const t = nowTs();
    const badSig = await http('GET', url(tenant.tenantId, { timestamp: t, nonce: 'n', echostr: echo, msg_signature: 'deadbeef' }));
    expect(badSig.status).toBe(401);
    expect(badSig.body.error).toMatchObject({ code: 'wecom_invalid_signature', details: { wecom_code: -40001 } });
    expect(await rejectedCount(env, 'wecom_40001')).toBe(before + 1);

    const foreign = encryptMessage(cfg.encodingAesKey, '1', 'another-corp');
    const wrongCorp = await http('GET', url(tenant.tenantId, { timestamp: t, nonce: 'n', echostr: foreign, msg_signature: computeSignature(cfg.token, t, 'n', foreign) }));
    expect(wrongCorp.status).toBe(401);
    expect(wrongCorp.body.error.details.wecom_code).toBe(-40005);

    const other = await createTenant(env);
    const unknown = await http('GET', url(other.tenantId, { timestamp: t, nonce: 'n', echostr: echo, msg_signature: computeSignature(cfg.token, t, 'n', echo) }));
    expect(unknown.status).toBe(404);
    const missing = await http('GET', url(tenant.tenantId, { timestamp: t, nonce: 'n' }));
    expect(missing.status).toBe(400);
  });

  test('an encrypted event is stored for its tenant (once, even when WeCom re-posts it) and kept as ignored', async () => {
    const inner =
      `<xml><ToUserName><![CDATA[${cfg.receiveId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>` +
      `<CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_contact]]></Event>` +
      `<ChangeType><![CDATA[create_user]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID></xml>`;
    const post = async () => {
      const ts = String(Math.floor(Date.now() / 1000));
      const { encrypt, signature } = encryptToXml(cfg, inner, ts, 'nn');
      const body = `<xml><ToUserName><![CDATA[${cfg.receiveId}]]></ToUserName><Encrypt><![CDATA[${encrypt}]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>`;
      const res = await request(url(tenant.tenantId, { msg_signature: signature, timestamp: ts, nonce: 'nn' }), { method: 'POST', headers: { 'content-type': 'text/xml' }, body });
      return { status: res.statusCode, text: await res.body.text() };
    };
    expect(await post()).toEqual({ status: 200, text: 'success' });
    expect(await post()).toEqual({ status: 200, text: 'success' });
    const rows = await env.ctx.db('callback_events').where({ notify_type: NOTIFY.wecomOfficial, tenant_id: tenant.tenantId });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ guid: cfg.receiveId, event_type: 'wecom.event.change_contact', raw_data: inner, status: 'received' });

    const listed = await http('GET', `${env.url}/api/v1/callbacks/events?notify_type=${NOTIFY.wecomOfficial}`, { token: tenant.adminToken });
    expect(listed.body.data.map((e: { id: string }) => e.id)).toEqual([rows[0].id]);

    expect(await processCallbackEvent(env.ctx, rows[0].id, {})).toEqual({ outcome: 'ignored', note: 'no mapping for event change_contact' });
    const after = await env.ctx.db('callback_events').where({ id: rows[0].id }).first();
    expect(parseJson(after.parsed_data, {})).toMatchObject({ Event: 'change_contact', ChangeType: 'create_user', UserID: 'zhangsan' });
  });

  test('a posted event with a bad signature or under the wrong corp id is refused and not stored', async () => {
    const before = Number((await env.ctx.db('callback_events').count({ n: '*' }))[0].n);
    const t = nowTs();
    const { encrypt, signature } = encryptToXml(cfg, '<xml><MsgType>text</MsgType></xml>', t, 'n');
    const body = `<xml><Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>`;
    const bad = await http('POST', url(tenant.tenantId, { msg_signature: signature, timestamp: nowTs(9), nonce: 'n' }), { body, headers: { 'content-type': 'text/xml' } });
    expect(bad.status).toBe(401);
    expect(bad.body.error.details.wecom_code).toBe(-40001);

    const foreign = encryptToXml({ ...cfg, receiveId: 'other-corp' }, '<xml/>', t, 'n');
    const wrong = await http('POST', url(tenant.tenantId, { msg_signature: foreign.signature, timestamp: t, nonce: 'n' }), {
      body: `<xml><Encrypt><![CDATA[${foreign.encrypt}]]></Encrypt></xml>`,
      headers: { 'content-type': 'text/xml' },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.details.wecom_code).toBe(-40005);

    const garbage = await http('POST', url(tenant.tenantId, { msg_signature: signature, timestamp: t, nonce: 'n' }), { body: 'not xml', headers: { 'content-type': 'text/xml' } });
    expect(garbage.status).toBe(400);
    expect(garbage.body.error.details.wecom_code).toBe(-40002);
    expect(Number((await env.ctx.db('callback_events').count({ n: '*' }))[0].n)).toBe(before);
  });

  test('a correctly signed request outside CALLBACK_TOLERANCE_SECONDS is refused (old samples, late replays) and not stored', async () => {
    const before = Number((await env.ctx.db('callback_events').count({ n: '*' }))[0].n);
    const rejectedBefore = await rejectedCount(env, 'wecom_stale');
    // Tencent's published sample time (2014), and a minute past the default 300 s window both ways (margin for a slow machine).
    for (const ts of ['1409304348', nowTs(-360), nowTs(360)]) {
      const echo = encryptMessage(cfg.encodingAesKey, 'e', cfg.receiveId);
      const get = await http('GET', url(tenant.tenantId, { timestamp: ts, nonce: 'n', echostr: echo, msg_signature: computeSignature(cfg.token, ts, 'n', echo) }));
      expect(get.status).toBe(401);
      expect(get.body.error).toMatchObject({ code: 'wecom_stale_timestamp', details: { field: 'query.timestamp' } });
      const inner = `<xml><MsgType><![CDATA[text]]></MsgType><MsgId>${ts}</MsgId><Content>hi</Content></xml>`;
      const { encrypt, signature } = encryptToXml(cfg, inner, ts, 'n');
      const post = await http('POST', url(tenant.tenantId, { msg_signature: signature, timestamp: ts, nonce: 'n' }), {
        body: `<xml><Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>`,
        headers: { 'content-type': 'text/xml' },
      });
      expect(post.status).toBe(401);
      expect(post.body.error.code).toBe('wecom_stale_timestamp');
    }
    expect(Number((await env.ctx.db('callback_events').count({ n: '*' }))[0].n)).toBe(before);
    expect(await rejectedCount(env, 'wecom_stale')).toBe(rejectedBefore + 6);
  });
});
