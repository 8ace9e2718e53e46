/**
 * Waiting in tests. Every wait names what it waits for, so a test that times out says why instead of
 * hitting jest's generic timeout. Waits are barriers (a condition or an event), never proof that
 * nothing happens, and never timed assertions.
 */

export interface WaitOptions<T> {
  /** Give up after this long (default 20 s, below jest's 60 s test timeout so the named error wins). */
  timeoutMs?: number;
  /** Time between two polls (default 50 ms). */
  intervalMs?: number;
  /** When the value read is good enough; default: truthy. */
  until?: (value: T) => boolean;
}

export const DEFAULT_WAIT_MS = 20_000;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

/**
 * Polls `read` until it returns a truthy value (or one `until` accepts) and returns that value. Errors
 * thrown by `read` count as "not yet" (a server still starting); on timeout the error names `what`,
 * the last value read and the last error.
 *
 *   const task = await waitFor(() => getTask(id), `task ${id} completed`, { until: (t) => t.status === 'completed' });
 *   await waitFor(async () => (await count()) === 3, 'three rows');
 */
export async function waitFor<T>(
  read: () => T | Promise<T>,
  what: string,
  opts: WaitOptions<Awaited<T>> | number = {},
): Promise<NonNullable<Awaited<T>>> {
  const o = typeof opts === 'number' ? { timeoutMs: opts } : opts;
  const timeoutMs = o.timeoutMs ?? DEFAULT_WAIT_MS;
  const intervalMs = o.intervalMs ?? 50;
  const accept = o.until ?? ((v: Awaited<T>) => Boolean(v));
  const deadline = Date.now() + timeoutMs;
  let last: { value?: unknown; error?: unknown } = {};
  for (;;) {
    try {
      const value = await read();
      if (accept(value)) return value as NonNullable<Awaited<T>>;
      last = { value };
    } catch (error) {
      last = { error };
    }
    if (Date.now() >= deadline) {
      const parts = [`timed out after ${timeoutMs} ms waiting for ${what}`];
      if ('value' in last) parts.push(`last value: ${describe(last.value)}`);
      if (last.error) parts.push(`last error: ${(last.error as Error)?.message ?? String(last.error)}`);
      throw new Error(parts.join('; '));
    }
    await sleep(intervalMs);
  }
}

/**
 * Waits for a promise (an event, a process exit) for at most `timeoutMs`, failing with `what` instead
 * of a generic jest timeout.
 *
 *   const code = await within(child.exited, 'the worker to exit after SIGTERM', 30_000);
 */
export async function within<T>(promise: Promise<T>, what: string, timeoutMs = DEFAULT_WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(v: unknown): string {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 500 ? `${s.slice(0, 500)}…` : s;
  } catch {
    return String(v);
  }
}
