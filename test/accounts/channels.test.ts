import { HttpGatewayClient } from '../../src/gateway/http-client';
import { startSimulator, type RunningSimulator } from '../../src/gateway/simulator';
import { loadSecret, rekeySecrets } from '../../src/db/channel-credentials';
import { parseKeyRing } from '../../src/secrets/key-ring';
import { createTenant, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { CALLBACK_SECRET, GATEWAY_KEY, startAccountsEnv, waitForStatus, type AccountsEnv } from './support';

/**
 * Per-account channels and sealed credentials through the API. The `wechaty` channel is served here by a
 * second simulator (it accepts and ignores credentials), so routing and secrets are tested apart from
 * the Wechaty gateway itself (test/gateway/wechaty-*.test.ts).
 */
let a: AccountsEnv;
let wx: RunningSimulator;
let t: TestTenant;
const TOKEN = 'puppet_workpro_0123456789abcdefSECRET';
const key = (b: number) => Buffer.alloc(32, b).toString('base64');

beforeAll(async () => {
  a = await startAccountsEnv('channels', { CHANNEL_SECRET_KEYS: `k1:${key(1)}` });
  wx = await startSimulator({ callbackSecret: CALLBACK_SECRET, apiKey: 'wx-key', autoLogin: false, callbackUrl: `${a.env.url}/callbacks/gateway` });
  a.env.ctx.gateway.register('wechaty', new HttpGatewayClient({ url: wx.url, apiKey: 'wx-key', timeoutMs: 10_000 }));
  t = await createTenant(a.env, { maxAccounts: 20 });
});
afterAll(async () => {
  await a.close();
  await wx.close();
});

const api = (path: string) => `${a.env.url}/api/v1${path}`;

test('a wechaty account needs valid credentials; a simulator account takes none', async () => {
  const own = await createTenant(a.env); // no account of another test in its count
  const missing = await http('POST', api('/accounts'), { token: own.adminToken, body: { account_name: 'wx0', channel: 'wechaty' } });
  expect(missing.status).toBe(400);
  expect(missing.body.error.details.fields).toEqual([{ field: 'credentials', message: 'required for the wechaty channel' }]);
  const bad = await http('POST', api('/accounts'), { token: own.adminToken, body: { account_name: 'wx0', channel: 'wechaty', credentials: { token: 'x', endpoint: 'no port', extra: 1 } } });
  expect(bad.status).toBe(400);
  expect(bad.body.error.details.fields.map((f: any) => f.field).sort()).toEqual(['credentials', 'credentials.endpoint', 'credentials.token']);
  const extra = await http('POST', api('/accounts'), { token: own.adminToken, body: { account_name: 'sim0', credentials: { token: TOKEN } } });
  expect(extra.status).toBe(400);
  const unknown = await http('POST', api('/accounts'), { token: own.adminToken, body: { account_name: 'x', channel: 'carrier-pigeon' } });
  expect(unknown.status).toBe(400);
  expect(await a.env.ctx.db('wework_accounts').where({ tenant_id: own.tenantId }).count({ n: '*' }).first()).toMatchObject({ n: 0 });
});

test('credentials are stored sealed, shown only as a hint, never logged in the audit trail', async () => {
  const res = await http('POST', api('/accounts'), {
    token: t.adminToken,
    body: { account_name: 'wx1', channel: 'wechaty', credentials: { token: TOKEN, endpoint: 'grpc.provider.test:8788', tls: { insecure: true } } },
  });
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({ channel: 'wechaty', credentials: { configured: true, hint: { token: 'puppet_workpro_…CRET', endpoint: 'grpc.provider.test:…', tls: 'disabled' } } });
  const id = res.body.id;
  // The instance lives on the wechaty channel's gateway, not on the default simulator.
  expect(wx.control.describe(res.body.guid).phase).toBe('idle');
  expect(() => a.sim.control.describe(res.body.guid)).toThrow();

  const everything = JSON.stringify([
    res.body,
    (await http('GET', api(`/accounts/${id}`), { token: t.adminToken })).body,
    (await http('GET', api('/accounts'), { token: t.adminToken })).body,
    await a.env.ctx.db('audit_logs').where({ target_id: id }),
  ]);
  expect(everything).not.toContain('0123456789abcdef');
  expect(everything).not.toContain('grpc.provider.test:8788');

  const row = await a.env.ctx.db('channel_credentials').where({ account_id: id }).first();
  expect(row).toMatchObject({ tenant_id: t.tenantId, channel: 'wechaty', key_id: 'k1' });
  expect(row.sealed).not.toContain('0123456789');
  expect(await loadSecret(a.env.ctx.db, a.env.config.channels.keyRing, id)).toEqual({ token: TOKEN, endpoint: 'grpc.provider.test:8788', tls: { insecure: true } });
  // Bound to its account: the same ciphertext under another account id does not open.
  await a.env.ctx.db('channel_credentials').insert({ ...row, account_id: '00000000-0000-0000-0000-000000000001', lookup: null });
  await expect(loadSecret(a.env.ctx.db, a.env.config.channels.keyRing, '00000000-0000-0000-0000-000000000001')).rejects.toThrow(/does not open/);
  await a.env.ctx.db('channel_credentials').where({ account_id: '00000000-0000-0000-0000-000000000001' }).delete();
});

test('routing per account: a login of a wechaty account runs on its own gateway; the other account on the simulator', async () => {
  const w = (await http('POST', api('/accounts'), { token: t.adminToken, body: { account_name: 'wx2', channel: 'wechaty', credentials: { token: `${TOKEN}_2` } } })).body;
  const s = (await http('POST', api('/accounts'), { token: t.adminToken, body: { account_name: 'sim2' } })).body;
  expect(s.channel).toBe('simulator');
  for (const [acc, sim] of [[w, wx], [s, a.sim]] as const) {
    expect((await http('POST', api(`/accounts/${acc.id}/login`), { token: t.adminToken })).status).toBe(202);
    await waitForStatus(a, t, acc.id, 'waiting_scan');
    sim.control.scan(acc.guid);
    sim.control.confirm(acc.guid);
    await waitForStatus(a, t, acc.id, 'online');
  }
  // The router answers by guid too (what the sender and the watchdog use).
  const statuses = await a.env.ctx.gateway.getStatuses([w.guid, s.guid]);
  expect(statuses.map((x) => [x.guid, x.online]).sort()).toEqual([[w.guid, true], [s.guid, true]].sort());
});

test('replacing credentials: refused while online, accepted offline, the hint follows', async () => {
  const w = (await http('POST', api('/accounts'), { token: t.adminToken, body: { account_name: 'wx3', channel: 'wechaty', credentials: { token: `${TOKEN}_3` } } })).body;
  await http('POST', api(`/accounts/${w.id}/login`), { token: t.adminToken });
  await waitForStatus(a, t, w.id, 'waiting_scan');
  const busy = await http('PUT', api(`/accounts/${w.id}/credentials`), { token: t.adminToken, body: { credentials: { token: 'puppet_workpro_newtoken_9999' } } });
  expect(busy.status).toBe(409);
  expect(busy.body.error.code).toBe('account_busy');
  await http('POST', api(`/accounts/${w.id}/logout`), { token: t.adminToken });
  const ok = await http('PUT', api(`/accounts/${w.id}/credentials`), { token: t.adminToken, body: { credentials: { token: 'puppet_workpro_newtoken_9999' } } });
  expect(ok.status).toBe(200);
  expect(ok.body.credentials.hint.token).toBe('pu…9999');
  expect(JSON.stringify(ok.body)).not.toContain('newtoken_9999');
  const bad = await http('PUT', api(`/accounts/${w.id}/credentials`), { token: t.adminToken, body: { credentials: { token: 1 } } });
  expect(bad.status).toBe(400);
  const other = await createTenant(a.env);
  expect((await http('PUT', api(`/accounts/${w.id}/credentials`), { token: other.adminToken, body: { credentials: { token: 'puppet_x_12345678' } } })).status).toBe(404);
  const sim = (await http('POST', api('/accounts'), { token: t.adminToken, body: { account_name: 'sim3' } })).body;
  expect((await http('PUT', api(`/accounts/${sim.id}/credentials`), { token: t.adminToken, body: { credentials: { token: 'puppet_x_12345678' } } })).status).toBe(400);
});

test('key rotation re-seals every row under the new key; deleting the account deletes its secret', async () => {
  const w = (await http('POST', api('/accounts'), { token: t.adminToken, body: { account_name: 'wx4', channel: 'wechaty', credentials: { token: `${TOKEN}_4` } } })).body;
  const before = await a.env.ctx.db('channel_credentials').select('account_id', 'key_id');
  expect(before.every((r: any) => r.key_id === 'k1')).toBe(true);
  const rotated = parseKeyRing(`k2:${key(2)},k1:${key(1)}`);
  const res = await rekeySecrets(a.env.ctx.db, rotated, 2);
  expect(res).toEqual({ resealed: before.length, failed: 0 });
  expect(await rekeySecrets(a.env.ctx.db, rotated)).toEqual({ resealed: 0, failed: 0 });
  const onlyNew = parseKeyRing(`k2:${key(2)}`);
  expect((await loadSecret<{ token: string }>(a.env.ctx.db, onlyNew, w.id))!.token).toBe(`${TOKEN}_4`);
  expect((await a.env.ctx.db('channel_credentials').distinct('key_id')).map((r: any) => r.key_id)).toEqual(['k2']);

  expect((await http('DELETE', api(`/accounts/${w.id}`), { token: t.adminToken })).status).toBe(204);
  expect(await a.env.ctx.db('channel_credentials').where({ account_id: w.id }).first()).toBeUndefined();
});

test('a provider token already used by another account (any tenant) is refused with 409 credentials_in_use, found by its keyed hash', async () => {
  const token = 'puppet_workpro_duplicate_check_0001';
  const first = await http('POST', api('/accounts'), { token: t.adminToken, body: { account_name: 'dup1', channel: 'wechaty', credentials: { token } } });
  expect(first.status).toBe(201);
  // The row carries an HMAC of the token, not the token; equal tokens are found by it.
  const row = await a.env.ctx.db('channel_credentials').where({ account_id: first.body.id }).first();
  expect(row.lookup).toMatch(/^[0-9a-f]{64}$/);
  expect(JSON.stringify(row)).not.toContain(token);

  const expectInUse = (res: { status: number; body: any }) => {
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'credentials_in_use', details: { field: 'credentials.token' } });
    expect(JSON.stringify(res.body)).not.toContain(token);
  };
  // Same tenant, another tenant, with surrounding spaces: refused, and nothing half-written.
  const accountsBefore = Number((await a.env.ctx.db('wework_accounts').count({ n: '*' }))[0].n);
  expectInUse(await http('POST', api('/accounts'), { token: t.adminToken, body: { account_name: 'dup2', channel: 'wechaty', credentials: { token } } }));
  const other = await createTenant(a.env);
  expectInUse(await http('POST', api('/accounts'), { token: other.adminToken, body: { account_name: 'dup3', channel: 'wechaty', credentials: { token: ` ${token} ` } } }));
  expect(Number((await a.env.ctx.db('wework_accounts').count({ n: '*' }))[0].n)).toBe(accountsBefore);

  // Replacing another account's credentials with the token: refused; re-saving its own: fine.
  const second = (await http('POST', api('/accounts'), { token: t.adminToken, body: { account_name: 'dup4', channel: 'wechaty', credentials: { token: `${token}_other` } } })).body;
  expectInUse(await http('PUT', api(`/accounts/${second.id}/credentials`), { token: t.adminToken, body: { credentials: { token } } }));
  expect((await http('PUT', api(`/accounts/${first.body.id}/credentials`), { token: t.adminToken, body: { credentials: { token, endpoint: 'grpc.provider.test:9000' } } })).status).toBe(200);

  // Concurrent creates with one fresh token: exactly one wins (the unique index), the rest get the 409.
  const racing = await Promise.all(
    [1, 2, 3].map((i) => http('POST', api('/accounts'), { token: t.adminToken, body: { account_name: `race${i}`, channel: 'wechaty', credentials: { token: 'puppet_workpro_race_0002' } } })),
  );
  expect(racing.map((r) => r.status).sort()).toEqual([201, 409, 409]);
  for (const r of racing.filter((x) => x.status === 409)) expect(r.body.error.code).toBe('credentials_in_use');

  // After a key rotation, rows not yet re-sealed (old key's hash) still count; re-keyed ones too.
  const rotated = parseKeyRing(`k9:${key(9)},k1:${key(1)}`);
  const { credentialInUse } = await import('../../src/db/channel-credentials');
  expect(await credentialInUse(a.env.ctx.db, rotated, 'wechaty', { token })).toEqual({ field: 'credentials.token' });
  expect(await credentialInUse(a.env.ctx.db, rotated, 'wechaty', { token: 'puppet_workpro_never_used_0003' })).toBeUndefined();
  // Deleting the account frees its token.
  expect((await http('DELETE', api(`/accounts/${first.body.id}`), { token: t.adminToken })).status).toBe(204);
  expect((await http('POST', api('/accounts'), { token: other.adminToken, body: { account_name: 'dup5', channel: 'wechaty', credentials: { token } } })).status).toBe(201);
});
