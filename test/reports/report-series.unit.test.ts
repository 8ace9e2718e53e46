import { combine, localDate, series, type HourBucket } from '../../src/domain/report-series';

const hour = (iso: string, total: number, success: number, failed: number, avgResponse: number | null = null, responseCount = 0): HourBucket => ({
  hour: new Date(iso),
  total,
  success,
  failed,
  avgResponse,
  responseCount,
});

test('combined means are weighted by the messages each hour averaged', () => {
  const f = combine([hour('2026-11-20T09:00:00Z', 10, 8, 1, 2, 8), hour('2026-11-20T10:00:00Z', 3, 2, 1, 5, 2), hour('2026-11-20T11:00:00Z', 2, 0, 0)]);
  expect(f).toEqual({ total: 15, success: 10, failed: 2, success_rate: 0.8333, avg_response_time: 2.6 });
  expect(combine([hour('2026-11-20T11:00:00Z', 2, 0, 0)])).toEqual({ total: 2, success: 0, failed: 0, success_rate: null, avg_response_time: null });
});

test('daily periods follow the time zone across a DST change', () => {
  // Berlin leaves summer time on 2026-10-25: midnight is 22:00 UTC before, 23:00 UTC after.
  const buckets = [
    hour('2026-10-24T21:00:00Z', 1, 1, 0), // 23:00 Oct 24 CEST
    hour('2026-10-24T22:00:00Z', 2, 2, 0), // 00:00 Oct 25 CEST
    hour('2026-10-25T22:00:00Z', 4, 4, 0), // 23:00 Oct 25 CET
    hour('2026-10-25T23:00:00Z', 8, 8, 0), // 00:00 Oct 26 CET
  ];
  expect(series(buckets, 'day', 'Europe/Berlin').map((p) => [p.period, p.total])).toEqual([
    ['2026-10-24', 1],
    ['2026-10-25', 6],
    ['2026-10-26', 8],
  ]);
  expect(series(buckets, 'day', 'UTC').map((p) => [p.period, p.total])).toEqual([
    ['2026-10-24', 3],
    ['2026-10-25', 12],
  ]);
  expect(series(buckets, 'hour', 'Europe/Berlin')[0].period).toBe('2026-10-24T21:00:00Z');
  expect(localDate(new Date('2026-11-20T16:30:00Z'), 'Asia/Shanghai')).toBe('2026-11-21');
});
