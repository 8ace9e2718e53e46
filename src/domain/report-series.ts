/**
 * Turning hourly roll-up rows into report series: hourly periods are UTC hours; daily periods are
 * calendar days in the tenant's time zone (so a Shanghai tenant's day runs 00:00–24:00 Shanghai time,
 * DST-correct via Intl). Means combine exactly because each hour carries how many messages it averaged.
 */
export type Granularity = 'hour' | 'day';

export interface HourBucket {
  /** Start of the UTC hour. */
  hour: Date;
  total: number;
  success: number;
  failed: number;
  /** Mean response time (s) over `responseCount` messages, or null. */
  avgResponse: number | null;
  responseCount: number;
}

export interface Figures {
  total: number;
  success: number;
  failed: number;
  /** success / (success + failed); messages still in flight are left out. Null when nothing finished. */
  success_rate: number | null;
  avg_response_time: number | null;
}

export interface SeriesPoint extends Figures {
  period: string;
}

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const dayFormats = new Map<string, Intl.DateTimeFormat>();
/** YYYY-MM-DD of `instant` in `timeZone`. */
export function localDate(instant: Date, timeZone: string): string {
  let f = dayFormats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    dayFormats.set(timeZone, f);
  }
  return f.format(instant);
}

const round = (n: number, places: number) => Math.round(n * 10 ** places) / 10 ** places;

export function combine(buckets: readonly HourBucket[]): Figures {
  let total = 0;
  let success = 0;
  let failed = 0;
  let responseSum = 0;
  let responseCount = 0;
  for (const b of buckets) {
    total += b.total;
    success += b.success;
    failed += b.failed;
    if (b.avgResponse !== null && b.responseCount > 0) {
      responseSum += b.avgResponse * b.responseCount;
      responseCount += b.responseCount;
    }
  }
  return {
    total,
    success,
    failed,
    success_rate: success + failed > 0 ? round(success / (success + failed), 4) : null,
    avg_response_time: responseCount > 0 ? round(responseSum / responseCount, 3) : null,
  };
}

/** Periods in time order; only periods with data appear. */
export function series(buckets: readonly HourBucket[], granularity: Granularity, timeZone: string): SeriesPoint[] {
  const groups = new Map<string, HourBucket[]>();
  for (const b of [...buckets].sort((x, y) => x.hour.getTime() - y.hour.getTime())) {
    const period = granularity === 'hour' ? `${b.hour.toISOString().slice(0, 13)}:00:00Z` : localDate(b.hour, timeZone);
    const g = groups.get(period);
    if (g) g.push(b);
    else groups.set(period, [b]);
  }
  return [...groups].map(([period, g]) => ({ period, ...combine(g) }));
}
