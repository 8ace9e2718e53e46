import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { setImmediate as turn } from 'node:timers/promises';

/**
 * Bulk work (a big task's expansion) sharing a process with latency-sensitive work (other tenants'
 * requests, sends and flushes) gives the event loop back: between short slices it lets pending I/O run,
 * and while the loop has been late by over 100 ms (the process is short of CPU) it waits as long as its last step took, so it
 * takes at most about half of the process instead of all of it.
 */
const LATE_MS = 100;
const MAX_PAUSE_MS = 1_000;

let histogram: IntervalHistogram | null = null;

/** The event loop's longest delay (ms) since the previous call (one stall is what a waiting request feels); monitoring starts on the first call. */
function recentLoopDelayMs(): number {
  if (!histogram) {
    histogram = monitorEventLoopDelay({ resolution: 10 });
    histogram.enable();
    return 0;
  }
  const max = histogram.max / 1e6;
  histogram.reset();
  return max;
}

/** A turn of the event loop: I/O callbacks waiting behind a long synchronous stretch run now. */
export const yieldTurn = (): Promise<void> => turn();

/** After a step of bulk work that took `stepMs`: pause about as long when the loop has been late since the last step. */
export async function shareLoop(stepMs: number): Promise<void> {
  if (recentLoopDelayMs() < LATE_MS) return;
  await new Promise((r) => setTimeout(r, Math.min(stepMs, MAX_PAUSE_MS)));
  recentLoopDelayMs(); // the pause itself is not lateness
}
