/**
 * Login lockout decisions, free of I/O: after `maxFailures` consecutive bad passwords the operator is
 * locked until `now + lockSeconds`; an expired lock counts as unlocked and starts a fresh count.
 */
export interface LockoutPolicy {
  maxFailures: number;
  lockSeconds: number;
}

export interface LoginState {
  status: string;
  failedLoginCount: number;
  lockedUntil: Date | null;
}

export interface LoginStateChange {
  status: string;
  failedLoginCount: number;
  lockedUntil: Date | null;
  /** True when this failure is the one that locked the account. */
  lockedNow: boolean;
}

/** Locked by failures (until locked_until) or by hand (status locked with no end). */
export function isLocked(s: LoginState, now: Date): boolean {
  return s.status === 'locked' && (s.lockedUntil === null || s.lockedUntil.getTime() > now.getTime());
}

function lockExpired(s: LoginState, now: Date): boolean {
  return s.status === 'locked' && s.lockedUntil !== null && s.lockedUntil.getTime() <= now.getTime();
}

export function afterFailedLogin(s: LoginState, policy: LockoutPolicy, now: Date): LoginStateChange {
  const previous = lockExpired(s, now) ? 0 : s.failedLoginCount;
  const failedLoginCount = previous + 1;
  if (policy.maxFailures > 0 && failedLoginCount >= policy.maxFailures) {
    return {
      status: 'locked',
      failedLoginCount,
      lockedUntil: new Date(now.getTime() + policy.lockSeconds * 1000),
      lockedNow: true,
    };
  }
  return { status: s.status === 'locked' ? 'active' : s.status, failedLoginCount, lockedUntil: null, lockedNow: false };
}

export function afterSuccessfulLogin(): Omit<LoginStateChange, 'lockedNow'> {
  return { status: 'active', failedLoginCount: 0, lockedUntil: null };
}

/** Seconds until an automatic unlock (for the 423 response), or undefined for a manual lock. */
export function secondsUntilUnlock(s: LoginState, now: Date): number | undefined {
  if (!s.lockedUntil) return undefined;
  return Math.max(1, Math.ceil((s.lockedUntil.getTime() - now.getTime()) / 1000));
}
