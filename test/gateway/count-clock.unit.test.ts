import { CountClock } from '../../src/gateway/count-clock';

describe('CountClock: when a gateway surely counted a send, on our clock', () => {
  test('same clocks: the count, later by the fastest way back seen, never after the answer', () => {
    const c = new CountClock();
    // Counted at 1000, answered at 1004: one sample, so the bound is the answer (the way back may be 0).
    expect(c.countedBy(1000, 1004)).toBe(1004);
    // A slower answer (30 ms after its count): the bound is the count plus the fastest way back seen (4 ms).
    expect(c.countedBy(2000, 2030)).toBe(2004);
    expect(c.countedBy(3000, 3001)).toBe(3001);
    expect(c.countedBy(4000, 4050)).toBe(4001);
  });

  test('a gateway clock 5 s ahead or 5 s behind gives the same bounds: no sync needed, never early', () => {
    for (const skew of [5_000, -5_000]) {
      const c = new CountClock();
      const sends = [
        { count: 1000, answer: 1010 },
        { count: 1500, answer: 1502 },
        { count: 2000, answer: 2040 },
      ];
      for (const s of sends) {
        const by = c.countedBy(s.count + skew, s.answer);
        expect(by).toBeGreaterThanOrEqual(s.count);
        expect(by).toBeLessThanOrEqual(s.answer);
      }
      expect(c.countedBy(2500 + skew, 2520)).toBe(2502);
    }
  });

  test('a gateway clock stepped back is trusted again within two windows, and the bound is never after the answer', () => {
    const c = new CountClock(1_000);
    expect(c.countedBy(10_000, 10_001)).toBe(10_001);
    // The gateway's clock steps back 500 ms: its counts look 500 ms earlier than they were, and while the
    // old sample stands the bound is early (the documented hazard: a strict limiter may refuse one send)…
    expect(c.countedBy(10_100 - 500, 10_102)).toBe(9_601);
    // …until the old sample has aged out (two windows later) and the bound follows the new offset.
    c.countedBy(11_600 - 500, 11_602);
    expect(c.countedBy(13_000 - 500, 13_003)).toBe(13_002);
    // A count reported after its own answer (a clock jumped forward) is bounded by the answer.
    expect(c.countedBy(99_999, 13_500)).toBe(13_500);
  });
});
