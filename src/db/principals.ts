import type { Knex } from 'knex';
import { parseJson } from './json';

/** What authentication needs to know about an operator: status and the union of its active roles' permissions. */
export async function loadUserAccess(
  db: Knex,
  userId: string,
): Promise<{ tenantId: string; status: string; tokenVersion: number; permissions: string[] } | undefined> {
  const user = await db('users').select('tenant_id', 'status', 'token_version').where({ id: userId }).first();
  if (!user) return undefined;
  const roles = await db('user_roles as ur')
    .join('roles as r', 'r.id', 'ur.role_id')
    .where({ 'ur.user_id': userId, 'r.is_active': 1 })
    .select('r.permissions');
  const permissions = new Set<string>();
  for (const r of roles) for (const p of parseJson<string[]>(r.permissions, [])) permissions.add(p);
  return { tenantId: user.tenant_id, status: user.status, tokenVersion: Number(user.token_version), permissions: [...permissions] };
}

export async function findApiKeyByHash(
  db: Knex,
  keyHash: string,
): Promise<{ id: string; tenantId: string; permissions: string[]; expiresAt: Date | null; revokedAt: Date | null } | undefined> {
  const row = await db('api_keys').where({ key_hash: keyHash }).first();
  if (!row) return undefined;
  return {
    id: row.id,
    tenantId: row.tenant_id,
    permissions: parseJson<string[]>(row.permissions, []),
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

export async function touchApiKey(db: Knex, id: string): Promise<void> {
  await db('api_keys').where({ id }).update({ last_used_at: db.fn.now(3) });
}

/**
 * Every permission an operator's roles name, inactive roles included: what the operator holds now or
 * the moment a role is switched back on. Used to decide whether someone may act on this operator.
 */
export async function permissionsOfUser(db: Knex, userId: string): Promise<string[]> {
  const roles = await db('user_roles as ur').join('roles as r', 'r.id', 'ur.role_id').where({ 'ur.user_id': userId }).select('r.permissions');
  const permissions = new Set<string>();
  for (const r of roles) for (const p of parseJson<string[]>(r.permissions, [])) permissions.add(p);
  return [...permissions];
}
