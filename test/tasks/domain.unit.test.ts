import { computeProgress } from '../../src/domain/progress';
import { canApply, finalStatus, nextTaskStatus } from '../../src/domain/task-state';
import {
  capDay,
  emissionIntervalMs,
  isWithinWindow,
  jitteredInterval,
  msUntilNextLocalDay,
  msUntilWindowOpens,
  nextPacedSendAt,
  pacedIntervalMs,
  pacedSendDue,
  retryDelayMs,
  shouldRetry,
} from '../../src/domain/throttle';
import { InvalidTransitionError } from '../../src/errors';

describe('task state machine', () => {
  test('legal lifecycle', () => {
    expect(nextTaskStatus('created', 'start')).toBe('running');
    expect(nextTaskStatus('running', 'pause')).toBe('paused');
    expect(nextTaskStatus('paused', 'resume')).toBe('running');
    expect(nextTaskStatus('running', 'complete')).toBe('completed');
    expect(nextTaskStatus('paused', 'cancel')).toBe('cancelled');
    expect(nextTaskStatus('created', 'cancel')).toBe('cancelled');
  });
  test('illegal transitions are 409 with the current state', () => {
    for (const [from, action] of [
      ['completed', 'start'],
      ['created', 'pause'],
      ['running', 'resume'],
      ['cancelled', 'cancel'],
      ['completed', 'resume'],
    ] as const) {
      expect(canApply(from, action)).toBe(false);
      try {
        nextTaskStatus(from, action);
        throw new Error('expected a throw');
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidTransitionError);
        expect((e as InvalidTransitionError).status).toBe(409);
        expect((e as InvalidTransitionError).details).toMatchObject({ current_state: from });
      }
    }
  });
  test('all-failed task ends failed', () => {
    expect(finalStatus({ success: 0, failed: 3 })).toBe('failed');
    expect(finalStatus({ success: 1, failed: 3 })).toBe('completed');
    expect(finalStatus({ success: 0, failed: 0 })).toBe('completed');
  });
});

describe('throttle maths', () => {
  test('the pacing margin keeps a strict limiter satisfied at a small cost in rate', () => {
    expect(pacedIntervalMs(120, 0)).toBe(500);
    expect(pacedIntervalMs(120, 2)).toBe(510);
    expect(pacedIntervalMs(120, -5)).toBe(500);
    expect(pacedIntervalMs(0, 2)).toBe(0);
    // Sends on the paced grid whose transit varies between 0 and 9 ms, against a burst-1 bucket at the
    // configured rate (an arrival closer than 500 ms to the last accepted one is refused).
    const strictBucket = (iv: number) => {
      let lastAccepted = -Infinity;
      let refused = 0;
      let accepted = 0;
      for (let i = 0; i < 240; i += 1) {
        const arrival = i * iv + (i % 2 ? 9 : 0);
        if (arrival - lastAccepted < 500) refused += 1;
        else {
          accepted += 1;
          lastAccepted = arrival;
        }
      }
      return { refused, acceptedPerMinute: (accepted * 60_000) / (240 * iv) };
    };
    const withMargin = strictBucket(pacedIntervalMs(120, 2));
    expect(withMargin.refused).toBe(0);
    expect(withMargin.acceptedPerMinute).toBeGreaterThanOrEqual(0.95 * 120);
    // Without the margin every send after a slow one is refused (all even-numbered but the first).
    expect(strictBucket(pacedIntervalMs(120, 0)).refused).toBe(119);
  });
  test('a paced send waits for its slot, the margined interval after the last dispatch, and the gateway interval after the last count', () => {
    const base = { slotAt: 1000, lastDispatch: 0, lastCounted: 0, intervalMs: 510, marginPct: 2 };
    expect(nextPacedSendAt(base)).toBe(1000);
    expect(nextPacedSendAt({ ...base, lastDispatch: 600 })).toBe(1110);
    // The previous request reached the gateway's limiter 300 ms after it left: the next leaves 500 ms
    // (the gateway's own interval) after that count, not 510 ms after its dispatch.
    expect(nextPacedSendAt({ ...base, lastDispatch: 600, lastCounted: 900 })).toBeCloseTo(1400);
    expect(nextPacedSendAt({ ...base, slotAt: 5000, lastDispatch: 600, lastCounted: 900 })).toBe(5000);
  });
  test('the due time of a paced send is split by the rule that set it', () => {
    const base = { slotAt: 1000, lastDispatch: 600, lastCounted: 0, intervalMs: 510, marginPct: 2 };
    // The margined interval after the last dispatch (1110) is past the slot: no push.
    expect(pacedSendDue(base)).toEqual({ at: 1110, countPushMs: 0, slotPushMs: 0 });
    // Counted 300 ms after it left: the gateway interval after the count (1400) pushes it 290 ms.
    const counted = pacedSendDue({ ...base, lastCounted: 900 });
    expect(counted.at).toBeCloseTo(1400);
    expect(counted.countPushMs).toBeCloseTo(290);
    expect(counted.slotPushMs).toBe(0);
    // A slot further still pushes past both.
    const slot = pacedSendDue({ ...base, slotAt: 5000, lastCounted: 900 });
    expect(slot.at).toBe(5000);
    expect(slot.countPushMs).toBeCloseTo(290);
    expect(slot.slotPushMs).toBeCloseTo(3600);
    for (const p of [base, { ...base, lastCounted: 900 }, { ...base, slotAt: 5000, lastCounted: 900 }]) {
      const d = pacedSendDue(p);
      expect(d.at).toBe(nextPacedSendAt(p));
      expect(p.lastDispatch + p.intervalMs + d.countPushMs + d.slotPushMs).toBeCloseTo(d.at);
    }
  });
  test('jitter only stretches', () => {
    expect(jitteredInterval(500, 0.2, 0)).toBe(500);
    expect(jitteredInterval(500, 0.2, 0.999)).toBeCloseTo(599.9);
    expect(jitteredInterval(500, 5, 0.5)).toBe(750);
  });
  test('sending window in the tenant time zone, including windows over midnight and weekdays', () => {
    const w = { start: '09:00', end: '18:00' };
    // 01:30 UTC = 09:30 in Shanghai, 01:30 in London (winter)
    const at = new Date('2026-11-23T01:30:00Z');
    expect(isWithinWindow(w, at, 'Asia/Shanghai')).toBe(true);
    expect(isWithinWindow(w, at, 'Europe/London')).toBe(false);
    expect(msUntilWindowOpens(w, at, 'Europe/London')).toBe((7 * 60 + 30) * 60_000);
    expect(msUntilWindowOpens(w, at, 'Asia/Shanghai')).toBe(0);
    const night = { start: '22:00', end: '02:00' };
    expect(isWithinWindow(night, new Date('2026-11-23T01:00:00Z'), 'UTC')).toBe(true);
    expect(isWithinWindow(night, new Date('2026-11-23T03:00:00Z'), 'UTC')).toBe(false);
    // 2026-11-23 is a Monday; 01:00 Monday belongs to Sunday's night window.
    expect(isWithinWindow({ ...night, days: [7] }, new Date('2026-11-23T01:00:00Z'), 'UTC')).toBe(true);
    expect(isWithinWindow({ ...night, days: [1] }, new Date('2026-11-23T01:00:00Z'), 'UTC')).toBe(false);
    expect(isWithinWindow(null, at, 'UTC')).toBe(true);
  });
  test('daily cap day and reset in the tenant zone', () => {
    const at = new Date('2026-11-23T17:00:00Z'); // 01:00 next day in Shanghai
    expect(capDay(at, 'Asia/Shanghai')).toBe('2026-11-24');
    expect(capDay(at, 'UTC')).toBe('2026-11-23');
    expect(msUntilNextLocalDay(at, 'UTC')).toBe(7 * 3600_000);
    expect(msUntilNextLocalDay(at, 'Asia/Shanghai')).toBe(23 * 3600_000);
  });
  test('retry policy', () => {
    const p = { maxAttempts: 3, backoffMs: 1000, backoff: 'exponential' as const };
    expect(retryDelayMs(p, 1)).toBe(1000);
    expect(retryDelayMs(p, 2)).toBe(2000);
    expect(shouldRetry(p, 2)).toBe(true);
    expect(shouldRetry(p, 3)).toBe(false);
    expect(retryDelayMs({ ...p, backoff: 'fixed' }, 5)).toBe(1000);
  });
});

describe('progress', () => {
  test('percent, rate and eta', () => {
    const c = { total: 1000, sent: 250, success: 240, failed: 10, cancelled: 0, delivered: 0 };
    const p = computeProgress(c, 10_000, { at: 5_000, done: 150 });
    expect(p.percent).toBe(25);
    expect(p.rate).toBe(20);
    expect(p.eta_seconds).toBe(38);
    expect(p.counts.pending).toBe(750);
    expect(computeProgress({ ...c, sent: 1000 }, 1, null).eta_seconds).toBe(0);
    expect(computeProgress(c, 1, null).eta_seconds).toBeNull();
  });
});
