import { localTime } from './throttle';

/**
 * A tenant's campaign controls (configuration, not code: WeCom's own rules change), and the pure maths
 * the pacer and the frequency cap apply. Every control is off when null.
 */
export interface FrequencyCap {
  /** At most this many campaign messages per recipient per tenant-local day / ISO week / month. */
  per_day: number | null;
  per_week: number | null;
  per_month: number | null;
}

export interface WarmupRamp {
  /** Messages an account may send on its first warm-up day. */
  first_day: number;
  /** Growth of that allowance per day, in percent (50 = ×1.5 a day), until the account's daily cap. */
  daily_increase_pct: number;
  /** Accounts warm from their creation; otherwise only accounts marked warming do. */
  new_accounts: boolean;
}

export interface RiskPause {
  /** Consecutive rate-limited or risk-coded answers that pause the account. */
  threshold: number;
  cooldown_seconds: number;
  /** Gateway error codes counted as risk (rate-limited answers always count). */
  codes: string[];
}

export interface CampaignControls {
  frequency_cap: FrequencyCap | null;
  /** Per account, beside the tenant's daily cap; null = none. */
  account_hourly_cap: number | null;
  account_daily_cap: number | null;
  warmup: WarmupRamp | null;
  risk_pause: RiskPause | null;
}

export const NO_CONTROLS: Readonly<CampaignControls> = Object.freeze({ frequency_cap: null, account_hourly_cap: null, account_daily_cap: null, warmup: null, risk_pause: null });

export const DEFAULT_RISK_CODES = ['rate_limited', 'risk_control', 'account_restricted', 'operation_too_frequent'];

/** Stored controls (a JSON column, possibly null or older-shaped) with every field present. */
export function controlsOf(raw: unknown): CampaignControls {
  const r = (raw && typeof raw === 'object' ? raw : {}) as Partial<CampaignControls>;
  const f = r.frequency_cap;
  return {
    frequency_cap: f && (f.per_day || f.per_week || f.per_month) ? { per_day: f.per_day ?? null, per_week: f.per_week ?? null, per_month: f.per_month ?? null } : null,
    account_hourly_cap: r.account_hourly_cap ?? null,
    account_daily_cap: r.account_daily_cap ?? null,
    warmup: r.warmup ? { ...r.warmup, new_accounts: r.warmup.new_accounts ?? true } : null,
    risk_pause: r.risk_pause ? { ...r.risk_pause, codes: r.risk_pause.codes?.length ? r.risk_pause.codes : DEFAULT_RISK_CODES } : null,
  };
}

const DAY_MS = 86_400_000;

/** Whole tenant-local days from `since` to `at` (0 on the first day). */
export function localDaysBetween(since: Date, at: Date, timeZone: string): number {
  const a = Date.parse(`${localTime(since, timeZone).date}T00:00:00Z`);
  const b = Date.parse(`${localTime(at, timeZone).date}T00:00:00Z`);
  return Math.max(0, Math.round((b - a) / DAY_MS));
}

/**
 * The day's allowance of a warming account: `first_day` on its first day, growing by
 * `daily_increase_pct` a day, never above `target` (the account's daily cap, or the tenant's).
 * Returns null once the ramp has reached the target (the account is warm).
 */
export function warmupAllowance(ramp: WarmupRamp, since: Date, at: Date, timeZone: string, target: number): number | null {
  const day = localDaysBetween(since, at, timeZone);
  const allowance = Math.floor(ramp.first_day * (1 + ramp.daily_increase_pct / 100) ** day);
  return allowance >= target ? null : Math.max(0, allowance);
}

/** When a warming account's ramp starts: marked warming, or (ramp for new accounts) its creation; null = warm. */
export function warmingSince(ramp: WarmupRamp | null, account: { warming_since: Date | null; created_at: Date }): Date | null {
  if (!ramp) return null;
  return account.warming_since ?? (ramp.new_accounts ? account.created_at : null);
}

/**
 * The account's daily cap today: the configured account cap, lowered by the warm-up ramp while the
 * account warms. 0 = no account cap (the tenant's daily cap still applies).
 */
export function accountDailyCap(c: CampaignControls, account: { warming_since: Date | null; created_at: Date }, tenantDailyCap: number, at: Date, timeZone: string): number {
  const configured = c.account_daily_cap ?? 0;
  const since = warmingSince(c.warmup, account);
  if (!since || !c.warmup) return configured;
  const target = configured > 0 ? Math.min(configured, tenantDailyCap) : tenantDailyCap;
  return warmupAllowance(c.warmup, since, at, timeZone, target) ?? configured;
}

/** The tenant-local hour the hourly cap counts against ("2026-11-30T09"). */
export function capHour(at: Date, timeZone: string): string {
  const t = localTime(at, timeZone);
  return `${t.date}T${String(Math.floor(t.minutes / 60)).padStart(2, '0')}`;
}

/** Milliseconds until the next tenant-local hour starts. */
export function msUntilNextLocalHour(at: Date, timeZone: string): number {
  const t = localTime(at, timeZone);
  return (60 - (t.minutes % 60)) * 60_000 - at.getUTCSeconds() * 1000 - at.getUTCMilliseconds();
}

/** ISO-8601 week of a calendar date "YYYY-MM-DD" ("2026-W49"). */
export function isoWeek(date: string): string {
  const d = new Date(`${date}T00:00:00Z`);
  const isoDay = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - isoDay); // the Thursday of this week decides its year
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((d.getTime() - yearStart) / DAY_MS + 1) / 7);
  return `${d.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

export interface FrequencyWindow {
  /** Key part naming the period ("d:2026-11-30", "w:2026-W49", "m:2026-11"). */
  period: string;
  limit: number;
  /** How long a counter of this period must live (a little more than the period). */
  ttlMs: number;
}

/** The periods the cap counts in at `at`, in the tenant's time zone (only those with a limit). */
export function frequencyWindows(cap: FrequencyCap | null, at: Date, timeZone: string): FrequencyWindow[] {
  if (!cap) return [];
  const date = localTime(at, timeZone).date;
  const out: FrequencyWindow[] = [];
  if (cap.per_day) out.push({ period: `d:${date}`, limit: cap.per_day, ttlMs: 2 * DAY_MS });
  if (cap.per_week) out.push({ period: `w:${isoWeek(date)}`, limit: cap.per_week, ttlMs: 8 * DAY_MS });
  if (cap.per_month) out.push({ period: `m:${date.slice(0, 7)}`, limit: cap.per_month, ttlMs: 32 * DAY_MS });
  return out;
}
