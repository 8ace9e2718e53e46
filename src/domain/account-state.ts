import { InvalidTransitionError } from '../errors';
import type { LoginProgress, OfflineScene } from '../gateway/types';

/**
 * The WeCom account lifecycle. This module alone decides which status changes are allowed and what
 * a gateway observation means for an account; repositories and workers only carry the decisions out.
 */
export const ACCOUNT_STATUSES = [
  'created',
  'logging_in',
  'waiting_scan',
  'waiting_confirm',
  'need_verify',
  'online',
  'offline',
  'error',
  'recovering',
] as const;

export type AccountStatus = (typeof ACCOUNT_STATUSES)[number];
export type OperatorType = 'user' | 'system' | 'auto';

/** A login attempt is under way in these states (a poll job or callbacks move it on). */
export const LOGIN_IN_PROGRESS: readonly AccountStatus[] = ['logging_in', 'waiting_scan', 'waiting_confirm', 'need_verify'];

const LOGIN_EXITS: AccountStatus[] = ['online', 'offline', 'error', 'recovering'];

/** from → allowed targets. Self-loops mark repeated steps worth recording (new QR, wrong code). */
export const TRANSITIONS: Readonly<Record<AccountStatus, readonly AccountStatus[]>> = {
  created: ['logging_in', 'error'],
  logging_in: ['waiting_scan', 'waiting_confirm', 'need_verify', ...LOGIN_EXITS],
  waiting_scan: ['waiting_scan', 'waiting_confirm', 'need_verify', ...LOGIN_EXITS],
  waiting_confirm: ['need_verify', ...LOGIN_EXITS],
  need_verify: ['need_verify', ...LOGIN_EXITS],
  online: ['offline', 'error'],
  offline: ['logging_in', 'recovering', 'online', 'error'],
  error: ['logging_in', 'offline', 'online'],
  recovering: ['logging_in', 'waiting_scan', 'online', 'offline', 'error'],
};

export function canTransition(from: AccountStatus, to: AccountStatus): boolean {
  return TRANSITIONS[from]?.includes(to) ?? false;
}

export function assertTransition(from: AccountStatus, to: AccountStatus): void {
  if (!canTransition(from, to)) throw new InvalidTransitionError('account', from, to);
}

export const isAccountStatus = (v: unknown): v is AccountStatus => (ACCOUNT_STATUSES as readonly unknown[]).includes(v);

// ---- operator requests ---------------------------------------------------------------------------

/** An operator may start a login from these; recovering is allowed so a person can take over. */
export const USER_LOGIN_FROM: readonly AccountStatus[] = ['created', 'offline', 'error', 'recovering'];
/** An operator may log out of anything that is or is becoming a session. */
export const USER_LOGOUT_FROM: readonly AccountStatus[] = ['online', 'recovering', 'error', ...LOGIN_IN_PROGRESS];

// ---- gateway observations ------------------------------------------------------------------------

/**
 * What a login attempt should do given the gateway's progress report:
 *  - `move`: go to `to` (if not already there) and keep polling;
 *  - `wait`: nothing changed, keep polling;
 *  - `succeed`: the account is online;
 *  - `fail`: the attempt is over (`reason` says why) — see `failureTarget`.
 */
export type ProgressDecision =
  | { action: 'move'; to: AccountStatus; reason: string }
  | { action: 'wait' }
  | { action: 'succeed'; userInfo: Record<string, unknown> }
  | { action: 'fail'; reason: string };

export function decideLoginProgress(current: AccountStatus, p: LoginProgress): ProgressDecision {
  switch (p.state) {
    case 'waiting_scan':
      return current === 'logging_in' ? { action: 'move', to: 'waiting_scan', reason: 'qr_ready' } : { action: 'wait' };
    case 'waiting_confirm':
      return current === 'waiting_confirm' ? { action: 'wait' } : { action: 'move', to: 'waiting_confirm', reason: 'qr_scanned' };
    case 'need_verify':
      return current === 'need_verify' ? { action: 'wait' } : { action: 'move', to: 'need_verify', reason: p.reason ?? 'verification_required' };
    case 'verify_failed':
      return p.reason === 'expired' ? { action: 'fail', reason: 'verify_code_expired' } : { action: 'wait' };
    case 'online':
      return { action: 'succeed', userInfo: p.userInfo };
    case 'qr_expired':
      return { action: 'fail', reason: 'qr_expired' };
    case 'cancelled':
      return { action: 'fail', reason: 'login_cancelled' };
    case 'offline':
      return { action: 'fail', reason: p.scene ? `gateway_offline:${p.scene}` : 'gateway_offline' };
  }
}

/**
 * Where a failed login attempt ends. A recovery attempt goes back to recovering (the next retry is
 * scheduled with backoff) unless the failure is permanent; an operator's attempt ends offline, or in
 * error when the gateway refused for good.
 */
export function failureTarget(isRecoveryAttempt: boolean, permanent: boolean): AccountStatus {
  if (permanent) return 'error';
  return isRecoveryAttempt ? 'recovering' : 'offline';
}

/** Offline scenes the service recovers from by itself; a logout was intended and stays offline. */
export function shouldRecover(scene: OfflineScene | string | undefined): boolean {
  return scene !== 'logout';
}

// ---- recovery ------------------------------------------------------------------------------------

/** Delay before recovery attempt n+1 (n = attempts made): base·2ⁿ, capped. */
export function recoveryDelayMs(attemptsMade: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(attemptsMade, 30)));
}

/** Whether another recovery attempt is allowed, or the account must end in error. */
export function recoveryDecision(attemptsMade: number, maxRetries: number): 'retry' | 'give_up' {
  return attemptsMade < maxRetries ? 'retry' : 'give_up';
}

/** Whether a heartbeat is too old for an online account. A missing heartbeat counts from `since`. */
export function isHeartbeatStale(lastHeartbeat: Date | null, since: Date, now: Date, staleSeconds: number): boolean {
  const ref = lastHeartbeat ?? since;
  return now.getTime() - ref.getTime() > staleSeconds * 1000;
}
