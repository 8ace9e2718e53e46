import { defaultCallbackHandlers } from '../../src/callbacks/handlers';
import { parseJson } from '../../src/db/json';
import { NOTIFY } from '../../src/gateway/callback-protocol';
import { startCallbackProcessWorker } from '../../workers/callback-process.worker';
import type { RunningWorker } from '../../workers';
import { createTenant, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { callback, insertAccount, postCallback, waitForEvent } from './support';

/** Account callbacks end to end through the accounts module's real handler (state machine + history). */
let env: TestEnv;
let worker: RunningWorker;
let tenant: TestTenant;

beforeAll(async () => {
  env = await createTestEnv('cbaccount', { api: true });
  worker = startCallbackProcessWorker(env.ctx, { handlers: defaultCallbackHandlers(), backoffBaseMs: 20 });
  tenant = await createTenant(env);
});
afterAll(async () => {
  await worker.close();
  await env.close();
});

const finished = (id: string) => waitForEvent(env, id, (r) => r.status === 'processed' || r.status === 'ignored', 'processed or ignored');

test('login confirmed by an online callback, then logout by an offline callback, each applied once', async () => {
  const acct = await insertAccount(env, tenant.tenantId);
  await env.ctx.db('wework_accounts').where({ id: acct.id }).update({ status: 'waiting_confirm' });

  const online = await postCallback(env, callback(acct.guid, NOTIFY.online, { user_info: { nickname: 'Wang' } }));
  const onlineRow = await finished(online.body.id);
  expect(onlineRow.status).toBe('processed');
  expect(parseJson(onlineRow.parsed_data, {})).toEqual({ outcome: 'online' });
  const afterLogin = await env.ctx.db('wework_accounts').where({ id: acct.id }).first();
  expect(afterLogin.status).toBe('online');
  expect(parseJson(afterLogin.user_info, {})).toEqual({ nickname: 'Wang' });

  const offlineCb = callback(acct.guid, NOTIFY.offline, { scene: 'logout' });
  const offline = await postCallback(env, offlineCb);
  const replay = await postCallback(env, offlineCb);
  expect(replay.body).toEqual({ ok: true, id: offline.body.id, duplicate: true });
  expect((await finished(offline.body.id)).status).toBe('processed');
  expect((await env.ctx.db('wework_accounts').where({ id: acct.id }).first()).status).toBe('offline');
  const history = await env.ctx.db('account_status_history').where({ account_id: acct.id }).orderBy('id');
  expect(history.map((h: { new_status: string }) => h.new_status)).toEqual(['online', 'offline']);
});

test('an account event for a guid no account has is kept as ignored with the reason', async () => {
  const res = await postCallback(env, callback('guid-of-nobody', NOTIFY.offline, { scene: 'kicked' }));
  const row = await finished(res.body.id);
  expect(row.status).toBe('ignored');
  expect(row.error_message).toBe('account handler: unknown_guid');
});
