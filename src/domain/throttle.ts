/**
 * Sending pace maths, pure (Redis and clocks live elsewhere):
 * - per-account GCRA slots: each message takes the next slot `interval` after the previous one, so the
 *   account's rate holds exactly whatever the number of tasks and processes drawing from it;
 * - jitter stretches an interval by a random fraction so sends do not look machine-regular;
 * - sending windows in the tenant's time zone; daily-cap day keys; retry backoff.
 */

/** Milliseconds between two sends at `perMinute` (0 or less = unthrottled). */
export function emissionIntervalMs(perMinute: number): number {
  return perMinute > 0 ? 60_000 / perMinute : 0;
}

/**
 * The interval a sender keeps: the configured one stretched by `marginPct` percent (SEND_PACING_MARGIN_PCT,
 * 0 by default). A strict gateway limiter (token bucket of burst 1) refuses a send arriving even a
 * millisecond early; what keeps arrivals on time is the rule of `nextPacedSendAt` (a full gateway interval
 * after the previous send was surely counted), not a margin, which only comes out of the rate (1% of it
 * was the largest single loss at 300 accounts × 120/min on a quiet machine). A margin is left for gateways
 * whose limiter is less exact than their clock.
 */
export function pacedIntervalMs(perMinute: number, marginPct: number): number {
  const base = emissionIntervalMs(perMinute);
  return base * (1 + Math.max(0, marginPct) / 100);
}

/**
 * When the next paced send of an account may leave: at its reserved slot, at least the (margined)
 * `interval` after the previous dispatch, and at least the gateway's own interval (the margin taken
 * back out) after the previous send was surely counted by the gateway's limiter (`lastCounted`: when
 * the gateway reports when it counted, src/gateway/count-clock.ts; else when its answer came back).
 * The last rule is what makes a strict limiter (burst 1, counting on arrival) safe whatever the
 * transit time: a send leaving an unmargined interval after that instant arrives at least that long
 * after the previous count, even when the previous request was slowed on its way and the next is not.
 * Slots alone are not enough: at load 14 the bench saw 4 refusals in 30 s without this rule.
 */
export function nextPacedSendAt(p: PacedSendInputs): number {
  return pacedSendDue(p).at;
}

export interface PacedSendInputs {
  slotAt: number;
  lastDispatch: number;
  lastCounted: number;
  intervalMs: number;
  marginPct: number;
}

/**
 * `nextPacedSendAt` with which rule set it: `at` = `lastDispatch + intervalMs` (the margined interval
 * after the previous dispatch) + `countPushMs` (how much later the gateway interval after the previous
 * count ends) + `slotPushMs` (how much later still the reserved slot is). What a paced account loses
 * against its interval, split by cause (the bench prints the means).
 */
export function pacedSendDue(p: PacedSendInputs): { at: number; countPushMs: number; slotPushMs: number } {
  const gatewayInterval = p.intervalMs / (1 + Math.max(0, p.marginPct) / 100);
  const byDispatch = p.lastDispatch + p.intervalMs;
  const byCount = Math.max(byDispatch, p.lastCounted + gatewayInterval);
  const at = Math.max(p.slotAt, byCount);
  return { at, countPushMs: byCount - byDispatch, slotPushMs: at - byCount };
}

/** `interval` stretched by up to `jitter` (0..1) of itself; `random` in [0,1). */
export function jitteredInterval(intervalMs: number, jitter: number, random: number): number {
  const j = Math.min(Math.max(jitter, 0), 1);
  return intervalMs * (1 + j * random);
}

/** Sending window: "HH:MM" local start/end; end before start spans midnight; days 1=Mon..7=Sun. */
export interface SendWindow {
  start: string;
  end: string;
  days?: number[];
}

interface LocalTime {
  minutes: number;
  isoDay: number;
  date: string;
}

const WEEKDAY: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

/** One formatter per time zone: building one is costly, and the sender reads local time on every claim. */
const localFormats = new Map<string, Intl.DateTimeFormat>();

function localFormat(timeZone: string): Intl.DateTimeFormat {
  let f = localFormats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', weekday: 'short' });
    localFormats.set(timeZone, f);
  }
  return f;
}

/** Wall-clock time in `timeZone` (IANA) at `at`. */
export function localTime(at: Date, timeZone: string): LocalTime {
  const parts = localFormat(timeZone).formatToParts(at);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  return {
    minutes: Number(get('hour')) * 60 + Number(get('minute')),
    isoDay: WEEKDAY[get('weekday')] ?? 1,
    date: `${get('year')}-${get('month')}-${get('day')}`,
  };
}

const toMinutes = (hhmm: string) => {
  const [h, m] = hhmm.split(':').map(Number);
  return h * 60 + m;
};

export function isWithinWindow(window: SendWindow | undefined | null, at: Date, timeZone: string): boolean {
  if (!window) return true;
  const t = localTime(at, timeZone);
  const start = toMinutes(window.start);
  const end = toMinutes(window.end);
  // A window spanning midnight belongs to the day it started on.
  const inTime = start <= end ? t.minutes >= start && t.minutes < end : t.minutes >= start || t.minutes < end;
  if (!inTime) return false;
  if (!window.days?.length) return true;
  const day = start > end && t.minutes < end ? ((t.isoDay + 5) % 7) + 1 : t.isoDay;
  return window.days.includes(day);
}

/** Milliseconds until the window next opens (0 when open), searched minute by minute up to 8 days. */
export function msUntilWindowOpens(window: SendWindow | undefined | null, at: Date, timeZone: string): number {
  if (isWithinWindow(window, at, timeZone)) return 0;
  const minute = 60_000;
  const base = Math.ceil(at.getTime() / minute) * minute;
  for (let i = 0; i <= 8 * 24 * 60; i += 1) {
    if (isWithinWindow(window, new Date(base + i * minute), timeZone)) return base + i * minute - at.getTime();
  }
  return 24 * 3600_000;
}

/** The tenant-local calendar day the daily cap counts against. */
export const capDay = (at: Date, timeZone: string) => localTime(at, timeZone).date;

/** Milliseconds until the next tenant-local midnight (when the daily cap resets). */
export function msUntilNextLocalDay(at: Date, timeZone: string): number {
  const t = localTime(at, timeZone);
  return (24 * 60 - t.minutes) * 60_000 - at.getUTCSeconds() * 1000 - at.getUTCMilliseconds();
}

export interface RetryPolicy {
  /** Total attempts including the first. */
  maxAttempts: number;
  backoffMs: number;
  backoff: 'fixed' | 'exponential';
}

/** Delay before attempt `attempt + 1` after `attempt` failed (attempt counts from 1). */
export function retryDelayMs(policy: RetryPolicy, attempt: number): number {
  const d = policy.backoff === 'exponential' ? policy.backoffMs * 2 ** (attempt - 1) : policy.backoffMs;
  return Math.min(d, 3600_000);
}

export const shouldRetry = (policy: RetryPolicy, attempt: number) => attempt < policy.maxAttempts;
