import { deliveredCount, onlineAccount, sendingSuite, targets } from './helpers';
import { waitFor } from '../helpers/wait';

const s = sendingSuite('pausestops');

test('pause stops sending (claimed sends finish, nothing more goes out); resume finishes with exact counters', async () => {
  const { env, tasks } = s;
  const a = await onlineAccount(env, s.tenant.tenantId);
  const id = await tasks.create({ account_ids: [a.id], targets: targets(40), priority: 9, send_strategy: { rate_per_minute: 600, jitter: 0 } });
  await tasks.start(id);
  await waitFor(() => deliveredCount(env, id), 'the first sends of the task', { until: (n) => n >= 5 });
  const paused = await tasks.action(id, 'pause');
  expect(paused.body.status).toBe('paused');
  // Sends claimed before the pause finish; then nothing of this task is in flight.
  await waitFor(() => tasks.statusCounts(id), 'in-flight sends to settle after the pause', { until: (c) => !c.sending });
  const atPause = await deliveredCount(env, id);
  expect(atPause).toBeLessThan(40);

  // Barrier: a lower-priority task on the same account runs to completion. The account's sender takes the
  // highest priority first, so had the paused task still been sendable, its messages would have gone first.
  const sentinel = await tasks.create({ account_ids: [a.id], targets: targets(3, 'sentinel'), priority: 1 });
  await tasks.start(sentinel);
  await tasks.waitForStatus(sentinel, 'completed');
  expect(await deliveredCount(env, sentinel)).toBe(3);
  expect(await deliveredCount(env, id)).toBe(atPause);
  expect(await tasks.statusCounts(id)).toEqual({ sent: atPause, pending: 40 - atPause });

  expect((await tasks.action(id, 'pause')).status).toBe(409);
  expect((await tasks.action(id, 'resume')).body.status).toBe('running');
  const done = await tasks.waitForStatus(id, 'completed');
  expect(done).toMatchObject({ total_count: 40, sent_count: 40, success_count: 40 });
  expect(env.sim.control.ledger.summary()).toMatchObject({ unique_keys: 43, duplicate_deliveries: 0 });
});
