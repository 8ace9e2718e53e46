import { monthPartitionEnd, partitionExpiredForAll, planCutoff } from '../../src/domain/plan-retention';

const NOW = new Date('2026-11-23T12:30:00Z');
const planDays = { basic: 30, pro: 90 };

test('a plan without a shorter retention has no cutoff', () => {
  expect(planCutoff(planDays, 'basic', NOW)).toEqual(new Date('2026-10-24T12:30:00Z'));
  expect(planCutoff(planDays, 'standard', NOW)).toBeNull();
  expect(planCutoff(planDays, null, NOW)).toBeNull();
});

test('a month is expired for all only when every tenant in it is on a plan that no longer keeps it', () => {
  const julyEnd = monthPartitionEnd('p202607')!;
  expect(julyEnd).toEqual(new Date('2026-08-01T00:00:00Z'));
  expect(partitionExpiredForAll(julyEnd, ['basic', 'pro'], planDays, NOW)).toBe(true);
  expect(partitionExpiredForAll(julyEnd, ['basic', 'standard'], planDays, NOW)).toBe(false);
  expect(partitionExpiredForAll(julyEnd, ['basic', null], planDays, NOW)).toBe(false);
  expect(partitionExpiredForAll(monthPartitionEnd('p202609')!, ['basic', 'pro'], planDays, NOW)).toBe(false);
  expect(partitionExpiredForAll(monthPartitionEnd('p202609')!, ['basic'], planDays, NOW)).toBe(true);
  expect(partitionExpiredForAll(julyEnd, [], planDays, NOW)).toBe(false);
});

test('only monthly partition names have an end', () => {
  expect(monthPartitionEnd('p202612')).toEqual(new Date('2027-01-01T00:00:00Z'));
  expect(monthPartitionEnd('p_max')).toBeNull();
});
