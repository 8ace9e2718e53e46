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
