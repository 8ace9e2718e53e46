import type { Knex } from 'knex';
import { newId } from './ids';

type Db = Knex | Knex.Transaction;

export interface NewUser {
  tenantId: string;
  username: string;
  email: string;
  passwordHash: string;
  realName?: string | null;
  phone?: string | null;
}

export async function insertUser(db: Db, u: NewUser): Promise<string> {
  const id = newId();
  await db('users').insert({
    id,
    tenant_id: u.tenantId,
    username: u.username,
    email: u.email,
    password_hash: u.passwordHash,
    real_name: u.realName ?? null,
    phone: u.phone ?? null,
  });
  return id;
}

export interface UserRow {
  id: string;
  tenant_id: string;
  username: string;
  email: string;
  phone: string | null;
  real_name: string | null;
  avatar_url: string | null;
  password_hash: string;
  /** Access tokens carry the version they were signed at; raising it ends them all (password reset …). */
  token_version: number;
  status: 'active' | 'inactive' | 'locked' | 'deleted';
  last_login_time: Date | null;
  last_login_ip: string | null;
  failed_login_count: number;
  locked_until: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** Columns safe to show (never the password hash). */
export const PUBLIC_USER_COLUMNS = [
  'id',
  'tenant_id',
  'username',
  'email',
  'phone',
  'real_name',
  'avatar_url',
  'status',
  'last_login_time',
  'last_login_ip',
  'failed_login_count',
  'locked_until',
  'created_at',
  'updated_at',
] as const;

export type PublicUser = Omit<UserRow, 'password_hash'> & { roles: Array<{ id: string; role_code: string; role_name: string }> };

/** The operator a login names (deleted operators do not exist for login). */
export async function findUserForLogin(db: Db, tenantId: string, username: string): Promise<UserRow | undefined> {
  return db('users').where({ tenant_id: tenantId, username }).whereNot({ status: 'deleted' }).first();
}

/** A live (not deleted) operator of the tenant; another tenant's id is simply not found. */
export async function getUser(db: Db, tenantId: string, id: string, opts: { forUpdate?: boolean } = {}): Promise<UserRow | undefined> {
  const q = db('users').where({ tenant_id: tenantId, id }).whereNot({ status: 'deleted' });
  if (opts.forUpdate) q.forUpdate();
  return q.first();
}

export function usersQuery(
  db: Db,
  tenantId: string,
  filters: { status?: string; q?: string; roleId?: string },
): Knex.QueryBuilder {
  const q = db('users').select(PUBLIC_USER_COLUMNS.map((c) => `users.${c}`)).where('users.tenant_id', tenantId);
  if (filters.status) q.where('users.status', filters.status);
  else q.whereNot('users.status', 'deleted');
  if (filters.q) {
    const like = `${filters.q.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
    q.where((w) => w.where('users.username', 'like', like).orWhere('users.email', 'like', like));
  }
  if (filters.roleId) {
    q.whereExists((s) => s.select(db.raw('1')).from('user_roles').whereRaw('user_roles.user_id = users.id').where('user_roles.role_id', filters.roleId!));
  }
  return q;
}

/** Roles of each user id (one query for a page of users). */
export async function rolesOfUsers(db: Db, userIds: string[]): Promise<Map<string, PublicUser['roles']>> {
  const out = new Map<string, PublicUser['roles']>();
  for (const id of userIds) out.set(id, []);
  if (userIds.length === 0) return out;
  const rows = await db('user_roles as ur')
    .join('roles as r', 'r.id', 'ur.role_id')
    .whereIn('ur.user_id', userIds)
    .orderBy('r.role_code')
    .select('ur.user_id', 'r.id', 'r.role_code', 'r.role_name');
  for (const r of rows) out.get(r.user_id)?.push({ id: r.id, role_code: r.role_code, role_name: r.role_name });
  return out;
}

export function toPublicUser(row: Partial<UserRow>, roles: PublicUser['roles']): PublicUser {
  const out: Record<string, unknown> = {};
  for (const c of PUBLIC_USER_COLUMNS) out[c] = row[c] ?? null;
  return { ...(out as Omit<UserRow, 'password_hash'>), roles };
}

export async function withRoles(db: Db, rows: Array<Partial<UserRow> & { id: string }>): Promise<PublicUser[]> {
  const roles = await rolesOfUsers(db, rows.map((r) => r.id));
  return rows.map((r) => toPublicUser(r, roles.get(r.id) ?? []));
}

export async function updateUser(db: Db, tenantId: string, id: string, patch: Record<string, unknown>): Promise<void> {
  if (Object.keys(patch).length === 0) return;
  await db('users').where({ tenant_id: tenantId, id }).update(patch);
}

export async function recordLoginState(
  db: Db,
  id: string,
  s: { status: string; failedLoginCount: number; lockedUntil: Date | null; lastLogin?: { ip: string | null } },
): Promise<void> {
  await db('users')
    .where({ id })
    .update({
      status: s.status,
      failed_login_count: s.failedLoginCount,
      locked_until: s.lockedUntil,
      ...(s.lastLogin ? { last_login_time: db.fn.now(3), last_login_ip: s.lastLogin.ip } : {}),
    });
}

/** Which unique key a duplicate-entry error hit, so a 409 can name the field. */
export function duplicateUserField(err: unknown): 'username' | 'email' | undefined {
  const e = err as { code?: string; message?: string };
  if (e?.code !== 'ER_DUP_ENTRY') return undefined;
  if (e.message?.includes('uk_tenant_username')) return 'username';
  if (e.message?.includes('uk_tenant_email')) return 'email';
  return undefined;
}

/**
 * Operators of the tenant who hold `*` through an active role and can still log in (a locked admin
 * unlocks with time). Used to refuse the change that would leave a tenant without any administrator.
 */
export async function countTenantAdmins(db: Db, tenantId: string): Promise<number> {
  const row = await db('users as u')
    .join('user_roles as ur', 'ur.user_id', 'u.id')
    .join('roles as r', 'r.id', 'ur.role_id')
    .where({ 'u.tenant_id': tenantId, 'r.is_active': 1 })
    .whereIn('u.status', ['active', 'locked'])
    .whereRaw(`JSON_CONTAINS(r.permissions, '"*"')`)
    .countDistinct({ n: 'u.id' })
    .first();
  return Number(row?.n ?? 0);
}

// Login names compare under the columns' collation (case and accents folded, trailing spaces ignored);
// the lockout keys on the collation's sort key so that every spelling resolving alike shares a budget.
const COLLATION_KEY = `HEX(WEIGHT_STRING(RTRIM(CONVERT(? USING utf8mb4)) COLLATE utf8mb4_unicode_ci))`;

/** Collation keys of a login's tenant code and username, whether or not they exist. */
export async function loginNameKeys(db: Db, tenantCode: string, username: string): Promise<{ tenantCode: string; username: string }> {
  const [rows] = await db.raw(`SELECT ${COLLATION_KEY} AS t, ${COLLATION_KEY} AS u`, [tenantCode, username]);
  return { tenantCode: String(rows[0].t), username: String(rows[0].u) };
}

/** The lockout name (tenant id, username collation key) of an operator, to clear its lock. */
export async function loginNameOfUser(db: Db, userId: string): Promise<{ tenant: string; username: string } | undefined> {
  const row = await db('users').where({ id: userId }).first('tenant_id', 'username');
  if (!row) return undefined;
  const keys = await loginNameKeys(db, '', row.username);
  return { tenant: row.tenant_id, username: keys.username };
}

/**
 * Mirrors a failed password check onto the operator's row (shown by the users API). Concurrent failures
 * may land out of order, so the count only grows within a window and only the failure that spent the
 * budget writes the lock.
 */
export async function recordFailedLogin(db: Db, id: string, f: { windowStart: boolean; failedLoginCount: number; lockedUntil: Date | null }): Promise<void> {
  // A window's first failure can land after the failure that locked the same window (slower hash check):
  // while a lock is in force it only raises the count. locked_until is assigned last, since MariaDB
  // evaluates SET left to right and the other columns read its old value.
  const locked = 'locked_until > UTC_TIMESTAMP(3)';
  const patch: Record<string, unknown> = f.windowStart
    ? {
        failed_login_count: db.raw(`IF(${locked}, GREATEST(failed_login_count, ?), ?)`, [f.failedLoginCount, f.failedLoginCount]),
        status: db.raw(`IF(${locked}, status, IF(status = 'locked', 'active', status))`),
        locked_until: db.raw(`IF(${locked}, locked_until, NULL)`),
      }
    : { failed_login_count: db.raw('GREATEST(failed_login_count, ?)', [f.failedLoginCount]) };
  if (f.lockedUntil) Object.assign(patch, { status: db.raw(`IF(status = 'active', 'locked', status)`), locked_until: f.lockedUntil });
  await db('users').where({ id }).update(patch);
}

/**
 * Ends every access token of the operator at once (they carry the old version): after a password reset,
 * a deactivation or a deletion.
 */
export async function bumpTokenVersion(db: Db, id: string): Promise<void> {
  await db('users').where({ id }).increment('token_version', 1);
}
