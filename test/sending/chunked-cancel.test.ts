/**
 * Cancel answers without touching the task's messages (senders stop on the task's status), and its
 * pending messages are then cancelled in chunks, each counted exactly, by a queued drain.
 */
import { taskCounts } from '../../src/db/task-counters';
import { drainCancelledTask } from '../../src/sending/task-drain';
import { waitFor } from '../helpers/wait';
import { deliveredCount, onlineAccount, sendingSuite, targets } from './helpers';

const s = sendingSuite('chunkcancel');

test("cancel answers while one of the task's messages is row-locked by someone else; nothing of it is sent after the barrier, drained counts exact", async () => {
  const { env, tasks } = s;
  const acct = await onlineAccount(env, s.tenant.tenantId);
  const id = await tasks.create({ account_ids: [acct.id], targets: targets(300), priority: 9, send_strategy: { rate_per_minute: 600, jitter: 0 } });
  await tasks.start(id);
  await tasks.waitForExpansion(id);
  await waitFor(() => tasks.statusCounts(id), 'some sends of the task', { until: (c) => (c.sent ?? 0) >= 3 });

  // A long transaction elsewhere holds the task's last pending message: the old cancel (one UPDATE over
  // every pending message under the task lock) waited on it; the new one never reads messages.
  const holder = await env.ctx.db.transaction();
  const held = await holder('messages').where({ batch_id: id, status: 'pending' }).orderBy('id', 'desc').forUpdate().first();
  expect(held).toBeDefined();
  const answer = await tasks.action(id, 'cancel');
  expect(answer.status).toBe(200);
  expect(answer.body.status).toBe('cancelled');
  const answeredAt = Date.now();
  expect(holder.isCompleted()).toBe(false);
  await holder.rollback();

  await waitFor(() => tasks.statusCounts(id), 'the drain to settle (nothing pending or sending)', { until: (c) => !c.sending && !c.pending });
  // Barrier: a lower-priority task on the same account completes; a sendable message of the cancelled task would have gone first.
  const sentinel = await tasks.create({ account_ids: [acct.id], targets: targets(3, 'sentinel'), priority: 1 });
  await tasks.start(sentinel);
  await tasks.waitForStatus(sentinel, 'completed');

  const counts = await tasks.statusCounts(id);
  expect(counts.sent + counts.cancelled).toBe(300);
  expect(counts.cancelled).toBeGreaterThan(200);
  expect(await tasks.get(id)).toMatchObject({ status: 'cancelled', total_count: 300, sent_count: counts.sent, cancelled_count: counts.cancelled });
  expect(await deliveredCount(env, id)).toBe(counts.sent);
  const cancelledIds = (await env.ctx.db('messages').where({ batch_id: id, status: 'cancelled' }).pluck('id')) as string[];
  for (const m of cancelledIds) expect(env.sim.control.ledger.deliveriesOf(m)).toBe(0);
  // Sends after the answer are only those a sender had already decided on (its status read is at most
  // half a second old); every one of them is a delivered, counted message.
  const sentIds = new Set((await env.ctx.db('messages').where({ batch_id: id, status: 'sent' }).pluck('id')) as string[]);
  const taskIds = new Set([...sentIds, ...cancelledIds]);
  const late = env.sim.sends.filter((x) => x.at > answeredAt && taskIds.has(x.key));
  for (const x of late) expect(sentIds.has(x.key)).toBe(true);
});

test('the drain cancels in chunks; two drains side by side count each message once', async () => {
  const { env, tasks } = s;
  const offline = await onlineAccount(env, s.tenant.tenantId);
  await env.ctx.db('wework_accounts').where({ id: offline.id }).update({ status: 'offline' });
  const id = await tasks.create({ account_ids: [offline.id], targets: targets(530) });
  await tasks.start(id);
  await tasks.waitForExpansion(id);
  expect(await tasks.statusCounts(id)).toEqual({ pending: 530 });
  // Out of budget after one chunk: it says there is more, and has counted what it did. (Still running
  // here, so the sweeper's drain of cancelled tasks cannot have gone first.)
  expect(await drainCancelledTask(env.ctx, id, 50, 0)).toEqual({ cancelled: 50, more: true });
  expect((await taskCounts(env.ctx.db, id)).cancelled).toBe(50);
  // Mark it cancelled as the operator's action does, then drain by hand (the sweeper's drain may run too).
  await env.ctx.db('batch_send_tasks').where({ id }).update({ status: 'cancelled', end_time: new Date() });
  const [first, second] = await Promise.all([drainCancelledTask(env.ctx, id, 50), drainCancelledTask(env.ctx, id, 70)]);
  await waitFor(() => tasks.statusCounts(id), 'no pending message left', { until: (c) => !c.pending });
  expect(first.cancelled + second.cancelled).toBeLessThanOrEqual(480);
  expect(await tasks.statusCounts(id)).toEqual({ cancelled: 530 });
  expect((await taskCounts(env.ctx.db, id)).cancelled).toBe(530);
  expect(await drainCancelledTask(env.ctx, id, 50)).toEqual({ cancelled: 0, more: false });
});
