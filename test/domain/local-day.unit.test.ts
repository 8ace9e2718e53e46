import { startOfLocalDay } from '../../src/domain/local-day';

test('the local day starts at local midnight, whatever the offset', () => {
  expect(startOfLocalDay(new Date('2026-11-30T05:00:00.123Z'), 'UTC').toISOString()).toBe('2026-11-30T00:00:00.000Z');
  // 05:00Z is 13:00 in Shanghai: its day began at 16:00Z the day before.
  expect(startOfLocalDay(new Date('2026-11-30T05:00:00Z'), 'Asia/Shanghai').toISOString()).toBe('2026-11-29T16:00:00.000Z');
  // 20:00Z is already 04:00 next day in Shanghai.
  expect(startOfLocalDay(new Date('2026-11-30T20:00:00Z'), 'Asia/Shanghai').toISOString()).toBe('2026-11-30T16:00:00.000Z');
  expect(startOfLocalDay(new Date('2026-11-30T03:00:00Z'), 'America/New_York').toISOString()).toBe('2026-11-29T05:00:00.000Z');
});

test('a day with a DST change starts at its own midnight offset', () => {
  // New York, 2026-03-08: clocks jump 02:00 → 03:00; midnight was still EST (-05:00).
  expect(startOfLocalDay(new Date('2026-03-08T18:00:00Z'), 'America/New_York').toISOString()).toBe('2026-03-08T05:00:00.000Z');
  // 2026-11-01: back 02:00 → 01:00; midnight was EDT (-04:00).
  expect(startOfLocalDay(new Date('2026-11-01T18:00:00Z'), 'America/New_York').toISOString()).toBe('2026-11-01T04:00:00.000Z');
});
