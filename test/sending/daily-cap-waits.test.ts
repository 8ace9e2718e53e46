import { localTime } from '../../src/domain/throttle';
import { kickAccounts } from '../../src/sending/kicks';
import { createTenant } from '../helpers/env';
import { waitFor } from '../helpers/wait';
import { onlineAccount, runSliceNow, sendingSuite, taskApi, targets } from './helpers';

const s = sendingSuite('dailycap');

/**
 * The cap counts per tenant-local day. The tenant's clock is chosen: a fixed-offset zone where it is now
 * between 08:00 and 16:00, so the cap day cannot roll over while the test runs, whatever the UTC time.
 */
function middayZone(now = new Date()): string {
  for (let offset = -12; offset <= 14; offset += 1) {
    const zone = offset === 0 ? 'Etc/GMT' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
    const hour = localTime(now, zone).minutes / 60;
    if (hour >= 8 && hour < 16) return zone;
  }
  throw new Error('no zone at midday');
}

test('the daily cap counts across tasks; reaching it makes sending wait, not fail; a raised cap lets it finish', async () => {
  const { env } = s;
  const capped = await createTenant(env, { maxDailyMessages: 7, timezone: middayZone() });
  const tasks = taskApi(env, capped);
  const a = await onlineAccount(env, capped.tenantId);
  const b = await onlineAccount(env, capped.tenantId);
  const id1 = await tasks.create({ account_ids: [a.id], targets: targets(5, 'p') });
  const id2 = await tasks.create({ account_ids: [b.id], targets: targets(5, 'q') });
  await tasks.start(id1);
  await tasks.start(id2);
  await tasks.waitForExpansion(id1);
  await tasks.waitForExpansion(id2);
  const both = async () => [await tasks.statusCounts(id1), await tasks.statusCounts(id2)];
  await waitFor(both, 'seven sends and nothing in flight', { until: ([c1, c2]) => (c1.sent ?? 0) + (c2.sent ?? 0) === 7 && !c1.sending && !c2.sending });
  // Barrier: each account's sender looks again with the cap reached.
  await runSliceNow(env, a.id);
  await runSliceNow(env, b.id);
  const [c1, c2] = await both();
  expect((c1.sent ?? 0) + (c2.sent ?? 0)).toBe(7);
  expect((c1.pending ?? 0) + (c2.pending ?? 0)).toBe(3);
  expect((c1.failed ?? 0) + (c2.failed ?? 0)).toBe(0);
  expect(env.sim.control.ledger.summary().unique_keys).toBe(7);
  // The tasks with waiting messages stay running (one whose messages all went may have completed).
  const waiting = [[id1, c1], [id2, c2]].filter(([, c]) => (c as Record<string, number>).pending) as Array<[string, unknown]>;
  expect(waiting.length).toBeGreaterThan(0);
  for (const [id] of waiting) expect((await tasks.get(id)).status).toBe('running');

  // Next day, or a raised cap: sending carries on.
  await env.ctx.db('tenants').where({ id: capped.tenantId }).update({ max_daily_messages: 100 });
  await kickAccounts(env.ctx, [a.id, b.id]);
  await tasks.waitForStatus(id1, 'completed');
  await tasks.waitForStatus(id2, 'completed');
  expect(env.sim.control.ledger.summary()).toMatchObject({ unique_keys: 10, duplicate_deliveries: 0 });
});
