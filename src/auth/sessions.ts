import type { Knex } from 'knex';
import type { Config } from '../config';
import type { AuditEntry } from '../db/audit';
import { loadUserAccess } from '../db/principals';
import {
  findRefreshToken,
  issueRefreshToken,
  markRotated,
  revokeFamily,
  revokeUserRefreshTokens,
  type RefreshTokenRow,
} from '../db/refresh-tokens';
import { getTenantStatus, type TenantRow } from '../db/tenants';
import { withDeadlockRetry } from '../db/deadlock-retry';
import {
  bumpTokenVersion,
  findUserForLogin,
  loginNameKeys,
  loginNameOfUser,
  recordFailedLogin,
  recordLoginState,
  withRoles,
  type PublicUser,
  type UserRow,
} from '../db/users';
import { afterFailedGuess, afterSuccessfulLogin, secondsUntilUnlock } from '../domain/login-lockout';
import { AppError, ForbiddenError, UnauthorizedError, UnprocessableError } from '../errors';
import { signAccessToken } from './access-tokens';
import type { LoginGuard } from './login-guard';
import { hashPassword, verifyPassword } from './passwords';
import { randomSecret } from './secrets';

/**
 * Operator sessions: login (with lockout), refresh-token rotation with reuse detection, logout.
 * Callers pass `audit` so each audit row is written inside the transaction of the change it records.
 */
export type SessionAudit = (
  trx: Knex.Transaction,
  actor: { tenantId: string; actorType: AuditEntry['actorType']; actorId: string },
  action: string,
  target: { type: string; id?: string },
  details?: unknown,
) => Promise<void>;

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_expires_at: string;
  user: PublicUser;
}

/** Operator statuses whose sessions (access and refresh tokens) stay valid; a login lock is one. */
export const SESSION_STATUSES: ReadonlySet<string> = new Set(['active', 'locked']);

export const invalidCredentials = () => new UnauthorizedError('invalid tenant, username or password', 'invalid_credentials');
const invalidRefresh = (why = 'refresh token is invalid, expired or revoked') => new UnauthorizedError(why, 'invalid_refresh_token');

// A hash with the configured cost, verified against when the user does not exist so that unknown
// usernames take as long as wrong passwords (no username probing by timing).
const dummyHashes = new Map<string, Promise<string>>();
function dummyHash(auth: Config['auth']): Promise<string> {
  const key = `${auth.hashMemoryKib}:${auth.hashTimeCost}`;
  let h = dummyHashes.get(key);
  if (!h) {
    h = hashPassword(auth, randomSecret(16));
    dummyHashes.set(key, h);
  }
  return h;
}

/**
 * Logs an operator in. The login name's guess budget is reserved before any password is checked, for
 * unknown tenants and usernames too, so a lock (423) neither lets concurrent guesses through nor tells
 * which names exist. `tenant` is the tenant the route resolved from the code (undefined when unknown).
 */
export async function login(
  deps: { db: Knex; guard: LoginGuard; config: Config },
  input: { tenant: TenantRow | undefined; tenantCode: string; username: string; password: string; ip: string | null },
  audit: SessionAudit,
): Promise<TokenPair> {
  const { db, guard, config } = deps;
  const { tenant } = input;
  const user = tenant ? await findUserForLogin(db, tenant.id, input.username) : undefined;
  const keys = await loginNameKeys(db, input.tenantCode, input.username);
  const name = { tenant: tenant ? tenant.id : `code:${keys.tenantCode}`, username: keys.username };
  const slot = await guard.reserve(name);
  if (!slot.allowed) throw lockedError(slot.remainingMs);
  if (!tenant || !user) {
    await verifyPassword(await dummyHash(config.auth), input.password);
    throw invalidCredentials();
  }
  const actor = { tenantId: tenant.id, actorType: 'user' as const, actorId: user.id };

  if (!(await verifyPassword(user.password_hash, input.password))) {
    await recordWrongPassword(db, config, audit, actor, slot.attempt);
    throw invalidCredentials();
  }
  await guard.clear(name);
  // Only someone who knows the password learns the account's or tenant's state.
  if (user.status === 'inactive') throw new ForbiddenError('operator account is deactivated', 'account_inactive');
  if (tenant.status === 'suspended') throw new ForbiddenError('tenant is suspended', 'tenant_suspended');

  const refresh = await db.transaction(async (trx) => {
    await recordLoginState(trx, user.id, { ...afterSuccessfulLogin(), lastLogin: { ip: input.ip } });
    const issued = await issueRefreshToken(trx, { tenantId: tenant.id, userId: user.id, ttlSeconds: config.auth.refreshTokenTtl, ip: input.ip });
    await audit(trx, actor, 'auth.login', { type: 'user', id: user.id }, { family_id: issued.familyId });
    return issued;
  });
  const [publicUser] = await withRoles(db, [{ ...user, failed_login_count: 0, status: 'active', locked_until: null }]);
  return tokenPair(config, { userId: user.id, tenantId: tenant.id, tokenVersion: user.token_version, refresh, user: publicUser });
}

/** A wrong password of a real operator: its row mirrors the spent budget, and the audit log says so. */
async function recordWrongPassword(
  db: Knex,
  config: Config,
  audit: SessionAudit,
  actor: { tenantId: string; actorType: 'user'; actorId: string },
  attempt: number,
): Promise<void> {
  const failure = afterFailedGuess(attempt, config.auth, new Date());
  const target = { type: 'user', id: actor.actorId };
  await db.transaction(async (trx) => {
    await recordFailedLogin(trx, actor.actorId, failure);
    await audit(trx, actor, 'auth.login_failed', target, { failed_login_count: failure.failedLoginCount });
    if (failure.lockedUntil) await audit(trx, actor, 'user.locked', target, { locked_until: failure.lockedUntil, reason: 'failed_logins' });
  });
}

/**
 * An operator changes its own password. The current password is a guess like a login's (same budget,
 * same lock), so a stolen access token cannot be used to find it. On success every other session ends
 * (refresh tokens revoked, access tokens outdated by the token version) and a fresh pair is returned.
 */
export async function changePassword(
  deps: { db: Knex; guard: LoginGuard; config: Config },
  input: { userId: string; currentPassword: string; newPassword: string; ip: string | null },
  audit: SessionAudit,
): Promise<TokenPair> {
  const { db, guard, config } = deps;
  const user = (await db('users').where({ id: input.userId }).first()) as UserRow | undefined;
  const name = await loginNameOfUser(db, input.userId);
  if (!user || !name) throw new UnauthorizedError('user is not active', 'invalid_token');
  const actor = { tenantId: user.tenant_id, actorType: 'user' as const, actorId: user.id };
  const slot = await guard.reserve(name);
  if (!slot.allowed) throw lockedError(slot.remainingMs);
  if (!(await verifyPassword(user.password_hash, input.currentPassword))) {
    await recordWrongPassword(db, config, audit, actor, slot.attempt);
    throw new UnprocessableError('wrong_password', 'current_password is wrong', { field: 'body.current_password' });
  }
  await guard.clear(name);
  const passwordHash = await hashPassword(config.auth, input.newPassword);
  const { refresh, tokenVersion } = await db.transaction(async (trx) => {
    await trx('users').where({ id: user.id }).update({ password_hash: passwordHash, failed_login_count: 0, locked_until: null, status: trx.raw(`IF(status = 'locked', 'active', status)`) });
    await bumpTokenVersion(trx, user.id);
    const revoked = await revokeUserRefreshTokens(trx, user.id);
    const issued = await issueRefreshToken(trx, { tenantId: user.tenant_id, userId: user.id, ttlSeconds: config.auth.refreshTokenTtl, ip: input.ip });
    await audit(trx, actor, 'user.password_change', { type: 'user', id: user.id }, { sessions_revoked: revoked, family_id: issued.familyId });
    const row = await trx('users').where({ id: user.id }).first('token_version');
    return { refresh: issued, tokenVersion: Number(row.token_version) };
  });
  const [publicUser] = await withRoles(db, [await db('users').where({ id: user.id }).first()]);
  return tokenPair(config, { userId: user.id, tenantId: user.tenant_id, tokenVersion, refresh, user: publicUser });
}

/** The same answer for every locked login name, real or not. */
function lockedError(remainingMs: number): AppError {
  return new AppError(423, 'account_locked', 'too many failed logins; try again later', {
    locked_until: new Date(Date.now() + remainingMs).toISOString(),
    retry_after_seconds: secondsUntilUnlock(remainingMs),
  });
}

function tokenPair(
  config: Config,
  s: { userId: string; tenantId: string; tokenVersion: number; refresh: { token: string; expiresAt: Date }; user: PublicUser },
): TokenPair {
  return {
    access_token: signAccessToken(config.auth, { sub: s.userId, tid: s.tenantId, kind: 'user', ver: s.tokenVersion }),
    refresh_token: s.refresh.token,
    token_type: 'Bearer',
    expires_in: config.auth.accessTokenTtl,
    refresh_expires_at: s.refresh.expiresAt.toISOString(),
    user: s.user,
  };
}

type RefreshOutcome =
  | { ok: true; row: RefreshTokenRow; next: { token: string; expiresAt: Date }; tokenVersion: number }
  | { ok: false; error: AppError };

/**
 * Rotates a refresh token. Presenting a token that was already rotated means it leaked (or was
 * replayed), so the whole family is revoked and the legitimate holder must log in again.
 */
export async function refreshSession(
  db: Knex,
  config: Config,
  token: string,
  ip: string | null,
  audit: SessionAudit,
): Promise<TokenPair> {
  // Two refreshes of one token race for its row lock; a deadlock victim re-runs and then sees the token
  // already rotated (reuse), instead of failing with a 500.
  const outcome = await withDeadlockRetry(() => db.transaction<RefreshOutcome>(async (trx) => {
    const row = await findRefreshToken(trx, token, { forUpdate: true });
    if (!row) return { ok: false, error: invalidRefresh() };
    const actor = { tenantId: row.tenant_id, actorType: 'user' as const, actorId: row.user_id };
    if (row.revoked_at) {
      if (!row.replaced_by) return { ok: false, error: invalidRefresh() };
      const revoked = await revokeFamily(trx, row.family_id);
      await audit(trx, actor, 'auth.refresh_reuse_detected', { type: 'user', id: row.user_id }, { family_id: row.family_id, revoked });
      return { ok: false, error: invalidRefresh('refresh token was already used; all sessions of this login are revoked') };
    }
    if (row.expires_at.getTime() <= Date.now()) return { ok: false, error: invalidRefresh() };
    const access = await loadUserAccess(trx, row.user_id);
    // A login lock only blocks new logins: a session already open goes on refreshing.
    if (!access || !SESSION_STATUSES.has(access.status)) {
      await revokeFamily(trx, row.family_id);
      return { ok: false, error: invalidRefresh('operator is not active') };
    }
    const tenantStatus = await getTenantStatus(trx, row.tenant_id);
    if (tenantStatus === 'suspended') return { ok: false, error: new ForbiddenError('tenant is suspended', 'tenant_suspended') };
    if (tenantStatus !== 'active') return { ok: false, error: invalidRefresh() };
    const next = await issueRefreshToken(trx, {
      tenantId: row.tenant_id,
      userId: row.user_id,
      familyId: row.family_id,
      ttlSeconds: config.auth.refreshTokenTtl,
      ip,
    });
    await markRotated(trx, row.id, next.id);
    return { ok: true, row, next, tokenVersion: access.tokenVersion };
  }));
  if (!outcome.ok) throw outcome.error;
  const userRow = await db('users').where({ id: outcome.row.user_id }).first();
  const [user] = await withRoles(db, [userRow]);
  return tokenPair(config, { userId: outcome.row.user_id, tenantId: outcome.row.tenant_id, tokenVersion: outcome.tokenVersion, refresh: outcome.next, user });
}

/** Revokes the presented token's whole family (this login on every device it was refreshed on). */
export async function logout(db: Knex, token: string, audit: SessionAudit): Promise<void> {
  // Races a refresh of the same login for the token's row lock, like concurrent refreshes do.
  await withDeadlockRetry(() => db.transaction(async (trx) => {
    const row = await findRefreshToken(trx, token, { forUpdate: true });
    if (!row) return;
    const revoked = await revokeFamily(trx, row.family_id);
    await audit(trx, { tenantId: row.tenant_id, actorType: 'user', actorId: row.user_id }, 'auth.logout', { type: 'user', id: row.user_id }, { family_id: row.family_id, revoked });
  }));
}
