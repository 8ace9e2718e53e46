import { capDay, localTime } from '../../src/domain/throttle';
import { kickAccounts } from '../../src/sending/kicks';
import { createTenant } from '../helpers/env';
import { waitFor } from '../helpers/wait';
import { onlineAccount, runSliceNow, sendingSuite, taskApi, targets } from './helpers';

const s = sendingSuite('dailycap');

/**
 * The cap counts per tenant-local day, and the tenant's clock is what the test sets: two fixed-offset
 * zones where it is now late evening (22:xx) and, a few hours east, early morning of the next day
 * (01:xx), whatever the UTC time. The cap day cannot roll over by itself while the test runs, and
 * moving the tenant east is its next day.
 */
function zoneAt(offset: number): string {
  return offset === 0 ? 'Etc/GMT' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
}
function eveningAndNextMorning(now = new Date()): { evening: string; nextMorning: string } {
  // Offsets from -12 to +14: some offset m in [-10, 13] is at 00:xx, so m-2 is at 22:xx the day before, m+1 at 01:xx.
  for (let m = -10; m <= 13; m += 1) {
    if (Math.floor(localTime(now, zoneAt(m)).minutes / 60) === 0) return { evening: zoneAt(m - 2), nextMorning: zoneAt(m + 1) };
  }
  throw new Error('no zone at midnight');
}

test('the daily cap counts across tasks; reaching it makes sending wait, not fail; the tenant’s next day lets it finish', async () => {
  const { env } = s;
  const zones = eveningAndNextMorning();
  expect(capDay(new Date(), zones.nextMorning) > capDay(new Date(), zones.evening)).toBe(true);
  const capped = await createTenant(env, { maxDailyMessages: 7, timezone: zones.evening });
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

  // The tenant's next day (its clock moved past local midnight): a fresh cap, and sending carries on.
  await env.ctx.db('tenants').where({ id: capped.tenantId }).update({ timezone: zones.nextMorning });
  await kickAccounts(env.ctx, [a.id, b.id]);
  await tasks.waitForStatus(id1, 'completed');
  await tasks.waitForStatus(id2, 'completed');
  expect(env.sim.control.ledger.summary()).toMatchObject({ unique_keys: 10, duplicate_deliveries: 0 });
});
