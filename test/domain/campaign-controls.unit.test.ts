import { accountDailyCap, capHour, controlsOf, frequencyWindows, isoWeek, localDaysBetween, msUntilNextLocalHour, warmupAllowance } from '../../src/domain/campaign-controls';

const ramp = { first_day: 20, daily_increase_pct: 50, new_accounts: true };

test('warm-up ramp: 20 on day one, ×1.5 a day, until the target (then warm: null)', () => {
  const since = new Date('2026-11-30T01:00:00Z');
  const at = (iso: string) => warmupAllowance(ramp, since, new Date(iso), 'Asia/Shanghai', 100);
  expect(at('2026-11-30T15:59:00Z')).toBe(20); // 23:59 local, still day one
  expect(at('2026-11-30T16:00:00Z')).toBe(30); // local midnight: day two
  expect(at('2026-12-01T20:00:00Z')).toBe(45);
  expect(at('2026-12-02T20:00:00Z')).toBe(67);
  expect(at('2026-12-03T20:00:00Z')).toBeNull(); // 101 ≥ 100: warm
});

test('the day boundary is the tenant-local midnight', () => {
  const since = new Date('2026-11-30T15:30:00Z');
  expect(localDaysBetween(since, new Date('2026-11-30T15:59:59Z'), 'Asia/Shanghai')).toBe(0);
  expect(localDaysBetween(since, new Date('2026-11-30T16:00:00Z'), 'Asia/Shanghai')).toBe(1);
  expect(localDaysBetween(since, new Date('2026-11-30T16:00:00Z'), 'UTC')).toBe(0);
  expect(localDaysBetween(since, new Date('2026-11-29T00:00:00Z'), 'UTC')).toBe(0); // never negative
});

test("an account's daily cap: configured, lowered by the ramp while warming; marked warming or new per the ramp", () => {
  const created = new Date('2026-11-01T00:00:00Z');
  const now = new Date('2026-11-30T04:00:00Z');
  const c = controlsOf({ account_daily_cap: 500, warmup: { first_day: 20, daily_increase_pct: 50, new_accounts: false } });
  expect(accountDailyCap(c, { warming_since: null, created_at: created }, 10_000, now, 'UTC')).toBe(500);
  expect(accountDailyCap(c, { warming_since: new Date('2026-11-29T10:00:00Z'), created_at: created }, 10_000, now, 'UTC')).toBe(30);
  const fresh = controlsOf({ warmup: { first_day: 20, daily_increase_pct: 50 } });
  expect(fresh.warmup?.new_accounts).toBe(true);
  // No account cap: the ramp grows to the tenant's cap, and the account cap is "none" once warm.
  expect(accountDailyCap(fresh, { warming_since: null, created_at: new Date('2026-11-30T00:00:00Z') }, 10_000, now, 'UTC')).toBe(20);
  expect(accountDailyCap(fresh, { warming_since: null, created_at: new Date('2025-01-01T00:00:00Z') }, 10_000, now, 'UTC')).toBe(0);
  expect(accountDailyCap(controlsOf(null), { warming_since: null, created_at: created }, 10_000, now, 'UTC')).toBe(0);
});

test('frequency periods in the tenant zone: local day, ISO week (year boundary), month', () => {
  expect(isoWeek('2026-11-30')).toBe('2026-W49');
  expect(isoWeek('2027-01-01')).toBe('2026-W53');
  expect(isoWeek('2024-12-30')).toBe('2025-W01');
  expect(isoWeek('2026-01-04')).toBe('2026-W01');
  const cap = { per_day: 1, per_week: 3, per_month: 10 };
  // 2026-11-30T20:00Z is already 2026-12-01 in Shanghai: the day, week and month follow the tenant.
  expect(frequencyWindows(cap, new Date('2026-11-30T20:00:00Z'), 'Asia/Shanghai').map((w) => w.period)).toEqual(['d:2026-12-01', 'w:2026-W49', 'm:2026-12']);
  expect(frequencyWindows({ per_day: null, per_week: 2, per_month: null }, new Date('2026-11-30T20:00:00Z'), 'UTC')).toEqual([{ period: 'w:2026-W49', limit: 2, ttlMs: 8 * 86_400_000 }]);
  expect(frequencyWindows(null, new Date(), 'UTC')).toEqual([]);
});

test('hour keys and the wait to the next local hour', () => {
  expect(capHour(new Date('2026-11-30T23:30:00Z'), 'Asia/Shanghai')).toBe('2026-12-01T07');
  expect(msUntilNextLocalHour(new Date('2026-11-30T23:30:00Z'), 'UTC')).toBe(30 * 60_000);
  // A half-hour zone: its hour turns at :30 UTC.
  expect(msUntilNextLocalHour(new Date('2026-11-30T23:20:00Z'), 'Asia/Kolkata')).toBe(10 * 60_000);
});

test('stored controls come back complete; an empty frequency cap is off', () => {
  expect(controlsOf({ frequency_cap: { per_day: null } }).frequency_cap).toBeNull();
  expect(controlsOf({ risk_pause: { threshold: 2, cooldown_seconds: 60 } }).risk_pause?.codes).toContain('risk_control');
  expect(controlsOf('garbage')).toEqual({ frequency_cap: null, account_hourly_cap: null, account_daily_cap: null, warmup: null, risk_pause: null });
});
