import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

/**
 * How late paced sends leave, process-wide (bench and diagnostics): for each paced send, the time from
 * its reserved GCRA slot to the moment it left (`slot`), split into the push of the count rule (the
 * previous send was counted by the gateway, or answered when it does not say, late: `rule`: nextPacedSendAt − slot) and the lateness of the wake-up
 * itself (`wake`: dispatch − nextPacedSendAt, timer and event-loop lag), plus each paced send's round trip
 * (`answer`). Fixed-size histograms in microseconds: nothing grows with the number of sends.
 */
export interface PacingHistograms {
  slot: RecordableHistogram;
  rule: RecordableHistogram;
  wake: RecordableHistogram;
  answer: RecordableHistogram;
}

const make = (): PacingHistograms => ({ slot: createHistogram(), rule: createHistogram(), wake: createHistogram(), answer: createHistogram() });

export const pacingStats: PacingHistograms = make();

const us = (ms: number) => Math.max(1, Math.round(ms * 1000));

export function recordPacedSend(slotAt: number, dueAt: number, sentAt: number): void {
  pacingStats.slot.record(us(sentAt - slotAt));
  pacingStats.rule.record(us(dueAt - slotAt));
  pacingStats.wake.record(us(sentAt - dueAt));
}

export function recordPacedAnswer(ms: number): void {
  pacingStats.answer.record(us(ms));
}

/**
 * Where the time between two consecutive paced sends of an account goes, summed over all accounts
 * (means are sums / n): the margined interval, the push of the count (or answer) rule past it, the
 * push of the reserved slot past both (a claim that came late, a back-off), and the wake-up after
 * the due time (timer, event loop, the status lookup when it ran late). gap = interval + count + slot + wake.
 */
export interface PacedGapSums {
  n: number;
  gap: number;
  interval: number;
  count: number;
  slot: number;
  wake: number;
}

const zeroGaps = (): PacedGapSums => ({ n: 0, gap: 0, interval: 0, count: 0, slot: 0, wake: 0 });
let gapSums = zeroGaps();

export function recordPacedGap(g: { gapMs: number; intervalMs: number; countPushMs: number; slotPushMs: number; wakeMs: number }): void {
  gapSums.n += 1;
  gapSums.gap += g.gapMs;
  gapSums.interval += g.intervalMs;
  gapSums.count += g.countPushMs;
  gapSums.slot += g.slotPushMs;
  gapSums.wake += g.wakeMs;
}

/** The mean of each part of the gap between consecutive paced sends (ms), then starts afresh. */
export function takePacedGaps(): PacedGapSums {
  const s = gapSums;
  gapSums = zeroGaps();
  if (!s.n) return s;
  return { n: s.n, gap: s.gap / s.n, interval: s.interval / s.n, count: s.count / s.n, slot: s.slot / s.n, wake: s.wake / s.n };
}

/** p50/p99/max in ms and the count of each histogram, then starts them afresh. */
export function takePacingStats(): Record<keyof PacingHistograms, { n: number; p50: number; p99: number; max: number }> {
  const out = {} as Record<keyof PacingHistograms, { n: number; p50: number; p99: number; max: number }>;
  for (const k of Object.keys(pacingStats) as Array<keyof PacingHistograms>) {
    const h = pacingStats[k];
    out[k] = { n: h.count, p50: h.count ? h.percentile(50) / 1000 : 0, p99: h.count ? h.percentile(99) / 1000 : 0, max: h.count ? h.max / 1000 : 0 };
    h.reset();
  }
  return out;
}
