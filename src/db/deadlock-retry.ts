/**
 * Runs `fn` (a whole transaction) again when MariaDB picked it as a deadlock victim or timed out a lock
 * wait, with a short growing pause. The transaction must be safe to re-run from the start.
 */
export async function withDeadlockRetry<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i += 1) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (i >= attempts || (code !== 'ER_LOCK_DEADLOCK' && code !== 'ER_LOCK_WAIT_TIMEOUT')) throw err;
      await new Promise((r) => setTimeout(r, 20 * i));
    }
  }
}
