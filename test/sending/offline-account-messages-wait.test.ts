import { onlineAccount, runSliceNow, sendingSuite, targets } from './helpers';
import { waitFor } from '../helpers/wait';

const s = sendingSuite('offlinewaits');

test('an account the gateway calls offline keeps its messages pending (none fails); they go once it is back', async () => {
  const { env, tasks } = s;
  const a = await onlineAccount(env, s.tenant.tenantId);
  env.sim.control.kick(a.guid, 'network', false);
  const id = await tasks.create({ account_ids: [a.id], targets: targets(5) });
  await tasks.start(id);
  // Barrier: the sender tried, the gateway refused (account offline), and the claim was set back.
  await waitFor(() => env.sim.sendsOf(a.guid).some((x) => x.code === 'account_offline'), 'the gateway to refuse a send as account_offline');
  await waitFor(() => tasks.statusCounts(id), 'the refused claim to be released', { until: (c) => !c.sending });
  expect(await tasks.statusCounts(id)).toEqual({ pending: 5 });
  expect(await tasks.get(id)).toMatchObject({ status: 'running', failed_count: 0 });

  // The account state machine notices too: while the account is not online in the database, the sender
  // leaves it alone even though the gateway would now accept.
  await env.ctx.db('wework_accounts').where({ id: a.id }).update({ status: 'offline' });
  await env.sim.control.startLogin(a.guid);
  env.sim.control.scan(a.guid);
  env.sim.control.confirm(a.guid);
  const tried = env.sim.sendsOf(a.guid).length;
  await runSliceNow(env, a.id, 'a sender slice for the account while it is offline in the database');
  expect(env.sim.sendsOf(a.guid)).toHaveLength(tried);
  expect(await tasks.statusCounts(id)).toEqual({ pending: 5 });

  await env.ctx.db('wework_accounts').where({ id: a.id }).update({ status: 'online' });
  const done = await tasks.waitForStatus(id, 'completed');
  expect(done).toMatchObject({ sent_count: 5, success_count: 5, failed_count: 0 });
});
