import { createTenant, createUserWithRole } from '../helpers/env';
import { http } from '../helpers/http';
import { loseSession } from '../../src/accounts/lifecycle';
import { onlineAccount, sendingSuite, targets } from '../sending/helpers';

const s = sendingSuite('dashboard');
const api = (p: string) => `${s.env.url}/api/v1${p}`;


test("dashboard: accounts by status, today's outcomes, active tasks and alerts of the caller's tenant only", async () => {
  const { env, tasks, tenant } = s;
  env.sim.control.configure({ permanent_targets: ['conv-0'] });
  const a = await onlineAccount(env, tenant.tenantId);
  const gone = await onlineAccount(env, tenant.tenantId);
  const done = await tasks.create({ account_ids: [a.id], targets: targets(4) });
  await tasks.start(done);
  await tasks.waitForStatus(done, 'completed');
  const paused = await tasks.create({ account_ids: [a.id], targets: targets(2, 'p'), send_strategy: { rate_per_minute: 1 } });
  await tasks.start(paused);
  await tasks.action(paused, 'pause');
  // What a kicked callback does to the account (the lifecycle's own step).
  expect(await loseSession(env.ctx, gone.id, 'kicked', false)).toBe(true);

  const viewer = await createUserWithRole(env, tenant, 'viewer');
  const res = await http('GET', api('/dashboard'), { token: viewer.token });
  expect(res.status).toBe(200);
  expect(res.body.accounts).toMatchObject({ online: 1, offline: 1, error: 0 });
  expect(res.body.today).toMatchObject({ sent: 3, failed: 1, time_zone: expect.any(String) });
  expect(res.body.today.total).toBeGreaterThanOrEqual(4);
  expect(Date.parse(res.body.today.since)).toBeLessThanOrEqual(Date.now());
  expect(res.body.active_tasks.map((x: any) => [x.id, x.status])).toEqual([[paused, 'paused']]);
  expect(res.body.alerts).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ kind: 'account', id: gone.id, status: 'offline' }),
      expect.objectContaining({ kind: 'task', id: paused, status: 'paused' }),
    ]),
  );

  const other = await createTenant(env);
  const empty = await http('GET', api('/dashboard'), { token: other.adminToken });
  expect(empty.body).toMatchObject({ accounts: { online: 0, offline: 0 }, today: { total: 0 }, active_tasks: [], alerts: [] });
});
