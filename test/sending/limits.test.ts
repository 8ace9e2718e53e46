import { redisKey } from '../../src/redis';
import { LeaseKeeper } from '../../src/sending/leases';
import { SendLimits } from '../../src/sending/limits';
import { createTestEnv, type TestEnv } from '../helpers/env';
import { waitFor } from '../helpers/wait';

/**
 * The Redis side of pacing, on a real Redis: the one-call reservation of daily-cap units and GCRA slots
 * (src/sending/limits.ts), the give-back of unused ones, and account leases renewed in one call.
 */
let env: TestEnv;
let limits: SendLimits;
beforeAll(async () => {
  env = await createTestEnv('sendlimits');
  limits = new SendLimits(env.ctx.redis);
});
afterAll(() => env.close());

let n = 0;
const fresh = () => {
  n += 1;
  const k = (name: string) => redisKey(env.config.redis.prefix, 'limits-test', name, String(n));
  return { tat: k('tat'), cap: k('cap'), accountHour: k('hour'), accountDay: k('day'), riskPause: k('pause') };
};

test('slots are one interval apart, only within the horizon; a full schedule says how long to wait', async () => {
  const k = fresh();
  const a = await limits.reserve(k, { intervalMs: 500, want: 10, horizonMs: 1_000, dailyCap: 1_000 });
  // now, +500, +1000: three slots fall within one second.
  expect(a).toMatchObject({ granted: 3, firstOffsetMs: 0, capped: null });
  const b = await limits.reserve(k, { intervalMs: 500, want: 10, horizonMs: 1_000, dailyCap: 1_000 });
  expect(b.granted).toBe(0);
  expect(b.waitMs).toBeGreaterThan(0);
  expect(b.waitMs).toBeLessThanOrEqual(500);
  // Only granted slots were counted against the cap.
  expect(Number(await env.ctx.redis.get(k.cap))).toBe(3);
});

test('the daily cap bounds the grant, and a reached cap grants nothing (slots untouched)', async () => {
  const k = fresh();
  const a = await limits.reserve(k, { intervalMs: 100, want: 10, horizonMs: 10_000, dailyCap: 4 });
  expect(a.granted).toBe(4);
  const tatAfter = await env.ctx.redis.get(k.tat);
  const b = await limits.reserve(k, { intervalMs: 100, want: 10, horizonMs: 10_000, dailyCap: 4 });
  expect(b).toMatchObject({ granted: 0, capped: 'tenant_daily' });
  expect(await env.ctx.redis.get(k.tat)).toBe(tatAfter);
  // Unthrottled (interval 0): units only.
  const u = fresh();
  expect((await limits.reserve(u, { intervalMs: 0, want: 7, horizonMs: 0, dailyCap: 5 })).granted).toBe(5);
  expect(await env.ctx.redis.exists(u.tat)).toBe(0);
});

test('units and slots not used go back; slots only while nobody reserved after', async () => {
  const k = fresh();
  const a = await limits.reserve(k, { intervalMs: 200, want: 5, horizonMs: 10_000, dailyCap: 100 });
  expect(a.granted).toBe(5);
  await limits.giveBack(k, 3, a, 200);
  expect(Number(await env.ctx.redis.get(k.cap))).toBe(2);
  expect(Number(await env.ctx.redis.get(k.tat))).toBe(Number(a.nextTat) - 3 * 200);
  // The next reservation starts where the used slots ended, not after the given-back ones.
  const b = await limits.reserve(k, { intervalMs: 200, want: 1, horizonMs: 10_000, dailyCap: 100 });
  expect(b.firstOffsetMs).toBeLessThanOrEqual(2 * 200);
  // A stale give-back (someone reserved since) returns the units but leaves the schedule alone.
  const tat = await env.ctx.redis.get(k.tat);
  await limits.giveBack(k, 1, a, 200);
  expect(await env.ctx.redis.get(k.tat)).toBe(tat);
  expect(Number(await env.ctx.redis.get(k.cap))).toBe(2);
});

test("the account's hourly and daily caps bound the grant beside the tenant's; the hourly one says when its hour ends", async () => {
  const k = fresh();
  const a = await limits.reserve(k, { intervalMs: 0, want: 50, horizonMs: 0, dailyCap: 1_000, accountHourlyCap: 6, accountDailyCap: 20, msUntilNextHour: 1_234 });
  expect(a).toMatchObject({ granted: 6, capped: null });
  const b = await limits.reserve(k, { intervalMs: 0, want: 50, horizonMs: 0, dailyCap: 1_000, accountHourlyCap: 6, accountDailyCap: 20, msUntilNextHour: 1_234 });
  expect(b).toMatchObject({ granted: 0, capped: 'account_hourly', waitMs: 1_234 });
  // A new hour (its own counter): the account's day still counts what the earlier hour took.
  const nextHour = { ...k, accountHour: `${k.accountHour}:next` };
  const c = await limits.reserve(nextHour, { intervalMs: 0, want: 50, horizonMs: 0, dailyCap: 1_000, accountHourlyCap: 100, accountDailyCap: 20 });
  expect(c.granted).toBe(14);
  expect((await limits.reserve(nextHour, { intervalMs: 0, want: 50, horizonMs: 0, dailyCap: 1_000, accountHourlyCap: 100, accountDailyCap: 20 })).capped).toBe('account_daily');
  // Every counter saw every unit; a give-back returns them to all.
  expect(Number(await env.ctx.redis.get(k.cap))).toBe(20);
  await limits.giveBack(nextHour, 4, c, 0);
  expect([await env.ctx.redis.get(k.cap), await env.ctx.redis.get(nextHour.accountHour), await env.ctx.redis.get(k.accountDay)]).toEqual(['16', '10', '16']);
});

test('a risk pause grants nothing and says how long it lasts; slots and counters untouched', async () => {
  const k = fresh();
  await env.ctx.redis.set(k.riskPause, '1', 'PX', 60_000);
  const a = await limits.reserve(k, { intervalMs: 100, want: 5, horizonMs: 10_000, dailyCap: 100 });
  expect(a).toMatchObject({ granted: 0, capped: 'risk_paused' });
  expect(a.waitMs).toBeGreaterThan(50_000);
  expect(a.waitMs).toBeLessThanOrEqual(60_000);
  expect(await env.ctx.redis.exists(k.tat, k.cap, k.accountHour, k.accountDay)).toBe(0);
});

test('leases: one holder per account; a released lease can be taken; a lease taken over is reported lost', async () => {
  const keyOf = (id: string) => redisKey(env.config.redis.prefix, 'limits-test', 'lease', id);
  const a = new LeaseKeeper(env.ctx.redis, keyOf, 1_500);
  const b = new LeaseKeeper(env.ctx.redis, keyOf, 30_000);
  expect(await a.acquire('acc-1')).toBe(true);
  expect(await b.acquire('acc-1')).toBe(false);
  expect(a.lost('acc-1')).toBe(false);
  await a.release('acc-1');
  expect(await b.acquire('acc-1')).toBe(true);
  // a's key is overwritten behind its back (as after an expiry and a new holder): its next renewal sees it.
  expect(await a.acquire('acc-2')).toBe(true);
  await env.ctx.redis.set(keyOf('acc-2'), 'someone-else');
  await waitFor(async () => a.lost('acc-2'), "a's renewal to find acc-2 taken over", { until: (lost) => lost });
  expect(b.lost('acc-1')).toBe(false);
  await a.release('acc-2');
  await b.release('acc-1');
  expect(await env.ctx.redis.exists(keyOf('acc-1'))).toBe(0);
  expect(await env.ctx.redis.get(keyOf('acc-2'))).toBe('someone-else'); // not ours to delete
});
