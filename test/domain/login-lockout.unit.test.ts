import { afterFailedGuess, afterSuccessfulLogin, secondsUntilUnlock } from '../../src/domain/login-lockout';
import { nextTenantStatus, nextUserStatus } from '../../src/domain/lifecycles';
import { permissionsBeyond, unknownPermissions } from '../../src/domain/permission-grants';

const policy = { maxFailures: 3, lockSeconds: 60 };
const now = new Date('2026-11-23T10:00:00Z');

test('the failure that spends the budget locks until now + lockSeconds; earlier ones only count', () => {
  expect(afterFailedGuess(1, policy, now)).toEqual({ windowStart: true, failedLoginCount: 1, lockedUntil: null });
  expect(afterFailedGuess(2, policy, now)).toEqual({ windowStart: false, failedLoginCount: 2, lockedUntil: null });
  expect(afterFailedGuess(3, policy, now)).toEqual({ windowStart: false, failedLoginCount: 3, lockedUntil: new Date('2026-11-23T10:01:00Z') });
  expect(afterSuccessfulLogin()).toEqual({ status: 'active', failedLoginCount: 0, lockedUntil: null });
});

test('maxFailures 0 disables lockout; retry_after_seconds rounds up to at least 1', () => {
  expect(afterFailedGuess(99, { maxFailures: 0, lockSeconds: 60 }, now).lockedUntil).toBeNull();
  expect(secondsUntilUnlock(59_001)).toBe(60);
  expect(secondsUntilUnlock(0)).toBe(1);
});

test('status machines refuse illegal steps with the current state', () => {
  expect(nextTenantStatus('active', 'suspend')).toBe('suspended');
  expect(nextTenantStatus('suspended', 'delete')).toBe('deleted');
  expect(() => nextTenantStatus('deleted', 'resume')).toThrow(expect.objectContaining({ status: 409, details: expect.objectContaining({ current_state: 'deleted' }) }));
  expect(nextUserStatus('locked', 'unlock')).toBe('active');
  expect(() => nextUserStatus('inactive', 'unlock')).toThrow(expect.objectContaining({ code: 'invalid_state_transition' }));
});

test('grants: unknown names and permissions beyond the granter', () => {
  expect(unknownPermissions(['users:read', '*', 'users:fly'])).toEqual(['users:fly']);
  expect(permissionsBeyond(new Set(['users:read']), ['users:read', 'users:write', '*'])).toEqual(['users:write', '*']);
  expect(permissionsBeyond(new Set(['*']), ['users:write', '*'])).toEqual([]);
});
