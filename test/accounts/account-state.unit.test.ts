import {
  ACCOUNT_STATUSES,
  TRANSITIONS,
  assertTransition,
  canTransition,
  decideLoginProgress,
  failureTarget,
  isHeartbeatStale,
  recoveryDecision,
  recoveryDelayMs,
  shouldRecover,
} from '../../src/domain/account-state';
import { InvalidTransitionError } from '../../src/errors';

test('every status has a transition row, and targets are known statuses', () => {
  for (const s of ACCOUNT_STATUSES) {
    expect(TRANSITIONS[s]).toBeDefined();
    for (const t of TRANSITIONS[s]) expect(ACCOUNT_STATUSES).toContain(t);
  }
});

test('the login path and recovery path are allowed; shortcuts are not', () => {
  const path = ['created', 'logging_in', 'waiting_scan', 'waiting_confirm', 'need_verify', 'online', 'offline', 'recovering', 'logging_in'] as const;
  for (let i = 0; i < path.length - 1; i++) expect(canTransition(path[i], path[i + 1])).toBe(true);
  expect(canTransition('created', 'online')).toBe(false);
  expect(canTransition('online', 'waiting_scan')).toBe(false);
  expect(canTransition('online', 'logging_in')).toBe(false);
  expect(canTransition('online', 'recovering')).toBe(false);
  expect(canTransition('waiting_confirm', 'waiting_scan')).toBe(false);
});

test('an illegal transition throws a 409 carrying the current state', () => {
  let err: unknown;
  try {
    assertTransition('online', 'logging_in');
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InvalidTransitionError);
  expect((err as InvalidTransitionError).status).toBe(409);
  expect((err as InvalidTransitionError).details).toEqual({ current_state: 'online', requested: 'logging_in' });
});

test('login progress decisions', () => {
  expect(decideLoginProgress('logging_in', { state: 'waiting_scan', qrExpiresAt: new Date() })).toMatchObject({ action: 'move', to: 'waiting_scan' });
  expect(decideLoginProgress('waiting_scan', { state: 'waiting_scan', qrExpiresAt: new Date() })).toEqual({ action: 'wait' });
  expect(decideLoginProgress('waiting_scan', { state: 'waiting_confirm' })).toMatchObject({ action: 'move', to: 'waiting_confirm' });
  expect(decideLoginProgress('waiting_confirm', { state: 'need_verify' })).toMatchObject({ action: 'move', to: 'need_verify' });
  expect(decideLoginProgress('need_verify', { state: 'verify_failed', reason: 'wrong_code' })).toEqual({ action: 'wait' });
  expect(decideLoginProgress('need_verify', { state: 'verify_failed', reason: 'expired' })).toEqual({ action: 'fail', reason: 'verify_code_expired' });
  expect(decideLoginProgress('waiting_scan', { state: 'qr_expired' })).toEqual({ action: 'fail', reason: 'qr_expired' });
  expect(decideLoginProgress('waiting_confirm', { state: 'online', userInfo: { a: 1 } })).toEqual({ action: 'succeed', userInfo: { a: 1 } });
  expect(decideLoginProgress('waiting_scan', { state: 'offline', scene: 'kicked' })).toEqual({ action: 'fail', reason: 'gateway_offline:kicked' });
});

test('failures, scenes, backoff and the retry cap', () => {
  expect(failureTarget(false, false)).toBe('offline');
  expect(failureTarget(true, false)).toBe('recovering');
  expect(failureTarget(true, true)).toBe('error');
  expect(shouldRecover('logout')).toBe(false);
  expect(['kicked', 'expired', 'network'].map(shouldRecover)).toEqual([true, true, true]);
  expect([0, 1, 2, 3, 10].map((n) => recoveryDelayMs(n, 1000, 5000))).toEqual([1000, 2000, 4000, 5000, 5000]);
  expect(recoveryDecision(0, 3)).toBe('retry');
  expect(recoveryDecision(2, 3)).toBe('retry');
  expect(recoveryDecision(3, 3)).toBe('give_up');
  const now = new Date('2026-01-01T00:10:00Z');
  expect(isHeartbeatStale(new Date('2026-01-01T00:09:00Z'), now, now, 90)).toBe(false);
  expect(isHeartbeatStale(new Date('2026-01-01T00:08:00Z'), now, now, 90)).toBe(true);
  expect(isHeartbeatStale(null, new Date('2026-01-01T00:00:00Z'), now, 90)).toBe(true);
});
