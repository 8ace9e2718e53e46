import { QUEUE } from '../../src/queues/names';
import { keys } from '../../src/sending/redis-scripts';
import { waitFor } from '../helpers/wait';
import { onlineAccount, sendingSuite } from './helpers';

const s = sendingSuite('schednojobs');

/**
 * Fleet-size cost: paced accounts waiting for their next slot hold no BullMQ job. A kick hands the
 * account to the worker's send scheduler and ends; the scheduler holds the account's lease while it
 * waits (so the sweeper leaves it alone), on the process's shared timer.
 */
test('forty accounts between two paced sends: each leased by the worker, no message-send job active or waiting', async () => {
  const { env, tasks } = s;
  const accounts = await Promise.all(Array.from({ length: 40 }, () => onlineAccount(env, s.tenant.tenantId)));
  // 6/min: ten seconds between two sends of an account; two messages each.
  const perAccount = accounts.flatMap((a, i) => [0, 1].map((j) => ({ conversation_id: `c-${i}-${j}`, account_id: a.id })));
  const id = await tasks.create({ account_ids: accounts.map((a) => a.id), targets: perAccount, send_strategy: { rate_per_minute: 6, jitter: 0 } });
  await tasks.start(id);
  // Barrier: every account has sent its first message and waits for its second slot.
  await waitFor(async () => accounts.filter((a) => env.sim.sendsOf(a.guid).some((x) => x.outcome === 'delivered')).length, 'every account to send once', {
    until: (n) => n === accounts.length,
  });
  const counts = await env.ctx.queues.get(QUEUE.messageSend).getJobCounts('active', 'waiting', 'delayed');
  expect(counts).toEqual({ active: 0, waiting: 0, delayed: 0 });
  const leased = await Promise.all(accounts.map((a) => env.ctx.redis.exists(keys.accountLock(env.config.redis, a.id))));
  expect(leased.every((n) => n === 1)).toBe(true);
  // And the second sends do come, one interval later (not asserted in time: only that they come).
  await tasks.waitForStatus(id, 'completed', 60_000);
  expect(await tasks.statusCounts(id)).toEqual({ sent: 80 });
});
