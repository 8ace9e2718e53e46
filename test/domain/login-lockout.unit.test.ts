import { afterFailedLogin, afterSuccessfulLogin, isLocked, secondsUntilUnlock } from '../../src/domain/login-lockout';
import { nextTenantStatus, nextUserStatus } from '../../src/domain/lifecycles';
import { permissionsBeyond, unknownPermissions } from '../../src/domain/permission-grants';

const policy = { maxFailures: 3, lockSeconds: 60 };
const now = new Date('2026-11-23T10:00:00Z');
const active = { status: 'active', failedLoginCount: 0, lockedUntil: null };

test('the Nth consecutive failure locks until now + lockSeconds', () => {
  const one = afterFailedLogin(active, policy, now);
  expect(one).toEqual({ status: 'active', failedLoginCount: 1, lockedUntil: null, lockedNow: false });
  const three = afterFailedLogin({ ...active, failedLoginCount: 2 }, policy, now);
  expect(three).toEqual({ status: 'locked', failedLoginCount: 3, lockedUntil: new Date('2026-11-23T10:01:00Z'), lockedNow: true });
  expect(isLocked(three, now)).toBe(true);
  expect(secondsUntilUnlock(three, now)).toBe(60);
});

test('an expired lock is open and a new failure starts counting from zero', () => {
  const expired = { status: 'locked', failedLoginCount: 3, lockedUntil: new Date('2026-11-23T09:59:59Z') };
  expect(isLocked(expired, now)).toBe(false);
  expect(afterFailedLogin(expired, policy, now)).toMatchObject({ status: 'active', failedLoginCount: 1, lockedNow: false });
  expect(afterSuccessfulLogin()).toEqual({ status: 'active', failedLoginCount: 0, lockedUntil: null });
});

test('a manual lock (no end) stays locked; maxFailures 0 disables lockout', () => {
  expect(isLocked({ status: 'locked', failedLoginCount: 0, lockedUntil: null }, now)).toBe(true);
  expect(afterFailedLogin({ ...active, failedLoginCount: 99 }, { maxFailures: 0, lockSeconds: 60 }, now).status).toBe('active');
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
