/**
 * The sweeper kicks a sender only for work it could do now: a paused or cancelled task's pending
 * messages are not work (kicking their accounts every second made each idle sender scan them all).
 */
import { sendQueueFor } from '../../src/sending/kicks';
import { keys } from '../../src/sending/redis-scripts';
import { sweepOnce } from '../../src/sending/sweeper';
import { expandedTask, onlineAccount, sendingSuite } from './helpers';

const s = sendingSuite('sweeperkicks', { workers: false });

test("a paused task's pending messages do not get their account kicked; running again, they do", async () => {
  const { env, tasks } = s;
  const acct = await onlineAccount(env, s.tenant.tenantId);
  const id = await expandedTask(s, acct.id, 40, 'paused');
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

test("an account whose lease its holder stopped renewing gets a kick for the moment the lease expires; a renewed lease gets none", async () => {
  const { env } = s;
  const acct = await onlineAccount(env, s.tenant.tenantId);
  await expandedTask(s, acct.id, 5, 'running');
  const lock = keys.accountLock(env.ctx.config.redis, acct.id);
  const queue = sendQueueFor(env.ctx, acct.id);

  // A live holder: renewed every second, so its lease always has more than half of its 3 s left.
  await env.ctx.redis.set(lock, 'live-holder', 'PX', 3_000);
  expect(await sweepOnce(env.ctx, { leaseTtlMs: 3_000 })).toMatchObject({ takeovers: 0 });
  expect(await queue.getJob(`sweep-${acct.id}`)).toBeUndefined();

  // A dead holder: 1.2 s left and no renewal coming.
  await env.ctx.redis.set(lock, 'dead-holder', 'PX', 1_200);
  expect(await sweepOnce(env.ctx, { leaseTtlMs: 3_000 })).toMatchObject({ takeovers: 1 });
  const kick = await queue.getJob(`sweep-${acct.id}`);
  expect(kick).toBeDefined();
  expect(await kick!.isDelayed()).toBe(true);
  // Due just after the lease expires, with a margin (not at it: a kick that finds the lease still held
  // does nothing; a 1 ms margin once gave a kick due on the expiry itself).
  const remaining = await env.ctx.redis.pttl(lock);
  expect(kick!.timestamp + kick!.opts.delay!).toBeGreaterThan(Date.now() + remaining + 25);
  expect(kick!.opts.delay!).toBeLessThanOrEqual(1_300);
});
