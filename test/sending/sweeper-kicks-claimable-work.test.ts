/**
 * The sweeper kicks a sender only for work it could do now: a paused or cancelled task's pending
 * messages are not work (kicking their accounts every second made each idle sender scan them all).
 */
import { expandTask } from '../../src/sending/expand';
import { sweepOnce } from '../../src/sending/sweeper';
import { onlineAccount, sendingSuite, targets } from './helpers';

const s = sendingSuite('sweeperkicks', { workers: false });

test("a paused task's pending messages do not get their account kicked; running again, they do", async () => {
  const { env, tasks } = s;
  const acct = await onlineAccount(env, s.tenant.tenantId);
  const id = await tasks.create({ account_ids: [acct.id], targets: targets(40) });
  await env.ctx.db('batch_send_tasks').where({ id }).update({ status: 'paused', start_time: new Date() });
  expect(await expandTask(env.ctx, id)).toBe('done');
  expect(await tasks.statusCounts(id)).toEqual({ pending: 40 });

  expect((await sweepOnce(env.ctx)).kicked).toBe(0);
  await env.ctx.db('batch_send_tasks').where({ id }).update({ status: 'running' });
  expect((await sweepOnce(env.ctx)).kicked).toBe(1);
  // An orphan in `sending` is work whatever its task says (it is re-sent with its key to learn the truth).
  await env.ctx.db('batch_send_tasks').where({ id }).update({ status: 'paused' });
  const one = await env.ctx.db('messages').where({ batch_id: id }).first();
  await env.ctx.db('messages').where({ id: one.id }).update({ status: 'sending' });
  expect((await sweepOnce(env.ctx)).kicked).toBe(1);
});
