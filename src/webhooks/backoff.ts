/**
 * Retry schedule of a failed delivery: exponential from `baseMs`, with ±10 % jitter so endpoints that
 * failed together do not retry together. With the defaults (10 s, 14 attempts) the last retry comes about
 * a day after the first try; then the delivery fails and the endpoint is disabled.
 */
export function retryDelayMs(attemptsMade: number, baseMs: number, random: () => number = Math.random): number {
  const raw = baseMs * 2 ** Math.max(0, attemptsMade - 1);
  return Math.round(raw * (0.9 + 0.2 * random()));
}

export type AttemptVerdict = { kind: 'succeeded' } | { kind: 'gone' } | { kind: 'retry'; delayMs: number } | { kind: 'exhausted' };

/** What to do after an attempt: 2xx succeeded, 410 gone (disable at once), otherwise retry until the budget is spent. */
export function judgeAttempt(statusCode: number | null, attemptsMade: number, opts: { baseMs: number; maxAttempts: number }, random?: () => number): AttemptVerdict {
  if (statusCode !== null && statusCode >= 200 && statusCode < 300) return { kind: 'succeeded' };
  if (statusCode === 410) return { kind: 'gone' };
  if (attemptsMade >= opts.maxAttempts) return { kind: 'exhausted' };
  return { kind: 'retry', delayMs: retryDelayMs(attemptsMade, opts.baseMs, random) };
}
