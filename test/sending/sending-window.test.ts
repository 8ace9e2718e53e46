import { localTime } from '../../src/domain/throttle';
import { kickAccounts } from '../../src/sending/kicks';
import { createTenant } from '../helpers/env';
import { onlineAccount, runSliceNow, sendingSuite, taskApi, targets } from './helpers';

const s = sendingSuite('sendwindow');

const hhmm = (m: number) => {
  const d = ((m % 1440) + 1440) % 1440;
  return `${String(Math.floor(d / 60)).padStart(2, '0')}:${String(d % 60).padStart(2, '0')}`;
};

test('sending window in the tenant time zone: outside it messages wait, inside it they go', async () => {
  const { env } = s;
  const tz = await createTenant(env, { timezone: 'America/New_York' });
  const tasks = taskApi(env, tz);
  const a = await onlineAccount(env, tz.tenantId);
  // Local time in the tenant's zone; the window opens in two hours (New York, not UTC).
  const now = localTime(new Date(), 'America/New_York').minutes;
  const id = await tasks.create({ account_ids: [a.id], targets: targets(4), send_strategy: { rate_per_minute: 0, window: { start: hhmm(now + 120), end: hhmm(now + 180) } } });
  await tasks.start(id);
  await tasks.waitForExpansion(id);
  await runSliceNow(env, a.id, 'a sender slice while the window is closed');
  expect(env.sim.sendsOf(a.guid)).toEqual([]);
  expect(await tasks.statusCounts(id)).toEqual({ pending: 4 });

  // Time passes: the window is now open (the same hours, shifted to include now).
  await env.ctx.db('batch_send_tasks').where({ id }).update({
    send_strategy: JSON.stringify({ rate_per_minute: 0, jitter: 0, retry: { max_attempts: 3, backoff_ms: 1000, backoff: 'fixed' }, error_threshold: 5, window: { start: hhmm(now - 5), end: hhmm(now + 60) } }),
  });
  await kickAccounts(env.ctx, [a.id]);
  const done = await tasks.waitForStatus(id, 'completed');
  expect(done.sent_count).toBe(4);
});
