import type { Knex } from 'knex';
import { BUILT_IN_ROLES } from '../domain/permissions';
import { newId } from './ids';
import { parseJson, toJson } from './json';

type Db = Knex | Knex.Transaction;

/** Creates the tenant's admin/operator/viewer roles; returns role ids by code. */
export async function createBuiltInRoles(db: Db, tenantId: string): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  const rows = BUILT_IN_ROLES.map((r) => {
    ids[r.code] = newId();
    return {
      id: ids[r.code],
      tenant_id: tenantId,
      role_code: r.code,
      role_name: r.name,
      permissions: JSON.stringify(r.permissions),
      is_system: 1,
    };
  });
  await db('roles').insert(rows);
  return ids;
}

export async function assignRole(db: Db, userId: string, roleId: string, assignedBy: string): Promise<void> {
  await db('user_roles').insert({ user_id: userId, role_id: roleId, assigned_by: assignedBy }).onConflict(['user_id', 'role_id']).ignore();
}

export interface RoleRow {
  id: string;
  tenant_id: string;
  role_code: string;
  role_name: string;
  description: string | null;
  permissions: string[];
  is_system: boolean;
  is_active: boolean;
  created_at: Date;
  updated_at: Date;
}

export function decodeRole(row: Record<string, unknown>): RoleRow {
  return {
    ...(row as unknown as RoleRow),
    permissions: parseJson<string[]>(row.permissions, []),
    is_system: Boolean(row.is_system),
    is_active: Boolean(row.is_active),
  };
}

export async function getRole(db: Db, tenantId: string, id: string, opts: { forUpdate?: boolean } = {}): Promise<RoleRow | undefined> {
  const q = db('roles').where({ tenant_id: tenantId, id });
  if (opts.forUpdate) q.forUpdate();
  const row = await q.first();
  return row ? decodeRole(row) : undefined;
}

export function rolesQuery(db: Db, tenantId: string, filters: { isSystem?: boolean }): Knex.QueryBuilder {
  const q = db('roles').where({ tenant_id: tenantId });
  if (filters.isSystem !== undefined) q.where({ is_system: filters.isSystem ? 1 : 0 });
  return q;
}

/** The subset of `ids` that are roles of this tenant (a role id of another tenant is not found). */
export async function findTenantRoles(db: Db, tenantId: string, ids: string[]): Promise<RoleRow[]> {
  if (ids.length === 0) return [];
  const rows = await db('roles').where({ tenant_id: tenantId }).whereIn('id', ids);
  return rows.map(decodeRole);
}

export interface NewRole {
  tenantId: string;
  roleCode: string;
  roleName: string;
  description?: string | null;
  permissions: string[];
}

export async function insertRole(db: Db, r: NewRole): Promise<string> {
  const id = newId();
  await db('roles').insert({
    id,
    tenant_id: r.tenantId,
    role_code: r.roleCode,
    role_name: r.roleName,
    description: r.description ?? null,
    permissions: toJson(r.permissions),
    is_system: 0,
  });
  return id;
}

export async function updateRole(
  db: Db,
  tenantId: string,
  id: string,
  patch: { roleName?: string; description?: string | null; permissions?: string[]; isActive?: boolean },
): Promise<void> {
  const row: Record<string, unknown> = {};
  if (patch.roleName !== undefined) row.role_name = patch.roleName;
  if (patch.description !== undefined) row.description = patch.description;
  if (patch.permissions !== undefined) row.permissions = toJson(patch.permissions);
  if (patch.isActive !== undefined) row.is_active = patch.isActive ? 1 : 0;
  if (Object.keys(row).length > 0) await db('roles').where({ tenant_id: tenantId, id }).update(row);
}

/** Live (not deleted) operators holding the role. */
export async function countRoleHolders(db: Db, roleId: string): Promise<number> {
  const row = await db('user_roles as ur')
    .join('users as u', 'u.id', 'ur.user_id')
    .where('ur.role_id', roleId)
    .whereNot('u.status', 'deleted')
    .count({ n: '*' })
    .first();
  return Number(row?.n ?? 0);
}

export async function deleteRole(db: Db, tenantId: string, id: string): Promise<void> {
  await db('roles').where({ tenant_id: tenantId, id }).delete();
}

/** Replaces a user's role set with `roleIds` (already checked to belong to the user's tenant). */
export async function setUserRoles(db: Db, userId: string, roleIds: string[], assignedBy: string): Promise<void> {
  const q = db('user_roles').where({ user_id: userId });
  if (roleIds.length > 0) q.whereNotIn('role_id', roleIds);
  await q.delete();
  for (const roleId of roleIds) await assignRole(db, userId, roleId, assignedBy);
}
