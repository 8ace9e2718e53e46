import { deliveredCount, onlineAccount, sendingSuite, targets } from './helpers';
import { waitFor } from '../helpers/wait';

const s = sendingSuite('cancelstops');

test('cancel marks unsent messages cancelled, none of them is ever delivered, counters exact; a cancelled task cannot resume', async () => {
  const { env, tasks } = s;
  const b = await onlineAccount(env, s.tenant.tenantId);
  const id = await tasks.create({ account_ids: [b.id], targets: targets(60), priority: 9, send_strategy: { rate_per_minute: 600, jitter: 0 } });
  await tasks.start(id);
  await waitFor(() => tasks.statusCounts(id), 'some sends of the task', { until: (c) => (c.sent ?? 0) >= 3 });
  const cancelled = await tasks.action(id, 'cancel');
  expect(cancelled.body.status).toBe('cancelled');
  await waitFor(() => tasks.statusCounts(id), 'the cancel to settle (nothing pending or sending)', { until: (c) => !c.sending && !c.pending });

  // Barrier: a lower-priority task on the same account completes; a cancelled message still sendable would have gone first.
  const sentinel = await tasks.create({ account_ids: [b.id], targets: targets(3, 'sentinel'), priority: 1 });
  await tasks.start(sentinel);
  await tasks.waitForStatus(sentinel, 'completed');

  const counts = await tasks.statusCounts(id);
  expect(counts.cancelled).toBeGreaterThan(0);
  expect(counts.sent + counts.cancelled).toBe(60);
  expect(await tasks.get(id)).toMatchObject({ status: 'cancelled', total_count: 60, sent_count: counts.sent, cancelled_count: counts.cancelled });
  const delivered = (await env.ctx.db('messages').where({ batch_id: id, status: 'sent' }).pluck('id')) as string[];
  for (const m of delivered) expect(env.sim.control.ledger.deliveriesOf(m)).toBe(1);
  const cancelledIds = (await env.ctx.db('messages').where({ batch_id: id, status: 'cancelled' }).pluck('id')) as string[];
  for (const m of cancelledIds) expect(env.sim.control.ledger.deliveriesOf(m)).toBe(0);
  expect(await deliveredCount(env, id)).toBe(counts.sent);
  expect((await tasks.action(id, 'resume')).status).toBe(409);
});
