import type { Knex } from 'knex';
import { BUILT_IN_ROLES } from '../domain/permissions';
import { newId } from './ids';

/** Creates the tenant's admin/operator/viewer roles; returns role ids by code. */
export async function createBuiltInRoles(db: Knex | Knex.Transaction, tenantId: string): Promise<Record<string, string>> {
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

export async function assignRole(db: Knex | Knex.Transaction, userId: string, roleId: string, assignedBy: string): Promise<void> {
  await db('user_roles').insert({ user_id: userId, role_id: roleId, assigned_by: assignedBy }).onConflict(['user_id', 'role_id']).ignore();
}
