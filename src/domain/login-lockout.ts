/**
 * Login lockout decisions, free of I/O. Every login name (tenant + username, whether or not they exist)
 * has a budget of `maxFailures` password checks per lock window; a check is reserved before the password
 * is verified (src/auth/login-guard.ts), so concurrent guesses cannot exceed the budget. The reservation
 * that spends the budget starts the lock. A lock blocks new logins only: sessions already open go on.
 */
export interface LockoutPolicy {
  maxFailures: number;
  lockSeconds: number;
}

/** What the operator's row shows after its `attempt`-th reserved check of the window failed. */
export interface FailedGuess {
  /** The first failure of a fresh window (an earlier lock has run out). */
  windowStart: boolean;
  failedLoginCount: number;
  /** Set when this failure spent the budget. */
  lockedUntil: Date | null;
}

export function afterFailedGuess(attempt: number, policy: LockoutPolicy, now: Date): FailedGuess {
  const locks = policy.maxFailures > 0 && attempt >= policy.maxFailures;
  return {
    windowStart: attempt <= 1,
    failedLoginCount: attempt,
    lockedUntil: locks ? new Date(now.getTime() + policy.lockSeconds * 1000) : null,
  };
}

export function afterSuccessfulLogin(): { status: 'active'; failedLoginCount: 0; lockedUntil: null } {
  return { status: 'active', failedLoginCount: 0, lockedUntil: null };
}

/** Whole seconds until a lock ends (at least 1), for `retry_after_seconds`. */
export function secondsUntilUnlock(remainingMs: number): number {
  return Math.max(1, Math.ceil(remainingMs / 1000));
}
