/**
 * Task progress snapshot from its counters: percent, current rate and ETA. Pure; the rate comes from
 * two samples (now and a previous one) kept by the caller.
 */
export interface TaskCounters {
  total: number;
  sent: number;
  success: number;
  failed: number;
  /** Sent in doubt (status `unknown`): part of `sent`, neither success nor failure. */
  unknown?: number;
  cancelled: number;
  delivered: number;
  /** Skipped by the recipient frequency cap: ended, neither sent nor failed. */
  capped?: number;
  /** Risk pauses of the task's accounts while it sent (not messages). */
  risk_paused?: number;
  /** Targets dropped at expansion (repeated or malformed); never messages. */
  skipped?: number;
}

export interface ProgressSample {
  at: number;
  done: number;
}

export interface TaskProgress {
  counts: TaskCounters & { pending: number };
  percent: number;
  /** Messages finished per second over the sampling interval. */
  rate: number;
  /** Seconds until done at the current rate; null when unknown. */
  eta_seconds: number | null;
}

export const doneOf = (c: TaskCounters) => c.sent + c.cancelled + (c.capped ?? 0);

export function percentDone(c: TaskCounters): number {
  if (c.total <= 0) return 0;
  return Math.min(100, Math.floor((doneOf(c) / c.total) * 10000) / 100);
}

export function computeProgress(c: TaskCounters, now: number, previous: ProgressSample | null, averageRate?: number): TaskProgress {
  const done = doneOf(c);
  let rate = 0;
  if (previous && now > previous.at) rate = Math.max(0, ((done - previous.done) * 1000) / (now - previous.at));
  if (rate === 0 && averageRate) rate = averageRate;
  const remaining = Math.max(0, c.total - done);
  return {
    counts: { ...c, pending: remaining },
    percent: percentDone(c),
    rate: Math.round(rate * 100) / 100,
    eta_seconds: remaining === 0 ? 0 : rate > 0 ? Math.ceil(remaining / rate) : null,
  };
}
