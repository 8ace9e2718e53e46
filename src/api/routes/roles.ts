import { Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { countRoleHolders, decodeRole, deleteRole, getRole, insertRole, rolesQuery, updateRole, type RoleRow } from '../../db/roles';
import { PERMISSIONS } from '../../domain/permissions';
import { ConflictError, NotFoundError } from '../../errors';
import { auditRequest } from '../audit';
import { requirePermission } from '../authenticate';
import { paginate, pageQuery, pageResponse } from '../pagination';
import { tenantIdOf } from '../principal';
import { body, params, query } from '../validate';
import { IdParams, RoleOut } from './access-schemas';
import { assertNotOutranked, checkGrantablePermissions } from './grants';
import { keepingAnAdmin } from './last-admin';
import { documentRoute } from './route-docs';

const PermissionList = z
  .array(z.string().min(1).max(64))
  .max(100)
  .describe(`permission names (or \`*\` for all): ${PERMISSIONS.join(', ')}`);
const CreateRoleBody = z.object({
  role_code: z.string().regex(/^[a-z][a-z0-9_-]{1,49}$/, 'lower-case letters, digits, _ and -, 2 to 50 characters'),
  role_name: z.string().trim().min(1).max(100),
  description: z.string().trim().max(500).nullable().optional(),
  permissions: PermissionList,
});
const UpdateRoleBody = z
  .object({
    role_name: z.string().trim().min(1).max(100),
    description: z.string().trim().max(500).nullable(),
    permissions: PermissionList,
    is_active: z.boolean(),
  })
  .partial()
  .strict();
const ListRolesQuery = pageQuery.extend({ is_system: z.enum(['true', 'false']).optional() });
const PermissionsResponse = z.object({ permissions: z.array(z.string()) });

const tag = 'Roles';
documentRoute({ method: 'get', path: '/api/v1/permissions', tag, permission: 'roles:read', summary: 'Every permission name a role can hold', response: PermissionsResponse });
documentRoute({ method: 'get', path: '/api/v1/roles', tag, permission: 'roles:read', summary: 'List roles (built-in and custom)', query: ListRolesQuery, response: pageResponse(RoleOut) });
documentRoute({ method: 'get', path: '/api/v1/roles/{id}', tag, permission: 'roles:read', summary: 'Get a role', params: IdParams, response: RoleOut });
documentRoute({ method: 'post', path: '/api/v1/roles', tag, permission: 'roles:write', summary: 'Create a custom role (unknown permission names are rejected)', body: CreateRoleBody, response: RoleOut, status: 201, errors: [400, 401, 403, 409] });
documentRoute({ method: 'patch', path: '/api/v1/roles/{id}', tag, permission: 'roles:write', summary: 'Update a custom role (built-in roles are immutable: 409 system_role)', params: IdParams, body: UpdateRoleBody, response: RoleOut, errors: [400, 401, 403, 404, 409] });
documentRoute({ method: 'delete', path: '/api/v1/roles/{id}', tag, permission: 'roles:write', summary: 'Delete a custom role no live operator holds (409 role_in_use otherwise)', params: IdParams, errors: [401, 403, 404, 409] });

async function loadRole(db: Knex | Knex.Transaction, tenantId: string, id: string, forUpdate = false): Promise<RoleRow> {
  const role = await getRole(db, tenantId, id, { forUpdate });
  if (!role) throw new NotFoundError('role', id);
  return role;
}

function assertCustom(role: RoleRow): void {
  if (role.is_system) throw new ConflictError(`built-in role ${role.role_code} cannot be changed or deleted`, 'system_role', { role_code: role.role_code });
}

export function rolesRouter(ctx: AppContext): Router {
  const router = Router();

  router.get('/permissions', requirePermission('roles:read'), (_req, res) => {
    res.json({ permissions: [...PERMISSIONS] });
  });

  router.get('/roles', requirePermission('roles:read'), async (req, res) => {
    const q = query(req, ListRolesQuery);
    const isSystem = q.is_system === undefined ? undefined : q.is_system === 'true';
    const page = await paginate<Record<string, unknown> & { id: string; created_at: Date }>(rolesQuery(ctx.db, tenantIdOf(req), { isSystem }), q);
    res.json({ data: page.data.map(decodeRole), next_cursor: page.next_cursor });
  });

  router.get('/roles/:id', requirePermission('roles:read'), async (req, res) => {
    res.json(await loadRole(ctx.db, tenantIdOf(req), params(req, IdParams).id));
  });

  router.post('/roles', requirePermission('roles:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const input = body(req, CreateRoleBody);
    const permissions = checkGrantablePermissions(req, input.permissions);
    const taken = await ctx.db('roles').where({ tenant_id: tenantId, role_code: input.role_code }).first('id');
    if (taken) throw new ConflictError(`role_code ${input.role_code} exists`, 'duplicate', { field: 'body.role_code' });
    const id = await ctx.db.transaction(async (trx) => {
      const roleId = await insertRole(trx, { tenantId, roleCode: input.role_code, roleName: input.role_name, description: input.description, permissions });
      await auditRequest(trx, req, 'role.create', { type: 'role', id: roleId }, { role_code: input.role_code, permissions });
      return roleId;
    });
    res.status(201).json(await loadRole(ctx.db, tenantId, id));
  });

  router.patch('/roles/:id', requirePermission('roles:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, IdParams);
    const input = body(req, UpdateRoleBody);
    const permissions = input.permissions ? checkGrantablePermissions(req, input.permissions) : undefined;
    await ctx.db.transaction(async (trx) => {
      const role = await loadRole(trx, tenantId, id, true);
      assertCustom(role);
      assertNotOutranked(req, { type: 'role', id, permissions: role.permissions });
      await keepingAnAdmin(trx, tenantId, () =>
        updateRole(trx, tenantId, id, { roleName: input.role_name, description: input.description, permissions, isActive: input.is_active }),
      );
      await auditRequest(trx, req, 'role.update', { type: 'role', id }, { changes: { ...input, permissions }, before: { permissions: role.permissions, is_active: role.is_active } });
    });
    res.json(await loadRole(ctx.db, tenantId, id));
  });

  router.delete('/roles/:id', requirePermission('roles:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, IdParams);
    await ctx.db.transaction(async (trx) => {
      const role = await loadRole(trx, tenantId, id, true);
      assertCustom(role);
      assertNotOutranked(req, { type: 'role', id, permissions: role.permissions });
      const holders = await countRoleHolders(trx, id);
      if (holders > 0) throw new ConflictError(`role is held by ${holders} operator(s); reassign them first`, 'role_in_use', { holders });
      await deleteRole(trx, tenantId, id);
      await auditRequest(trx, req, 'role.delete', { type: 'role', id }, { role_code: role.role_code, permissions: role.permissions });
    });
    res.status(204).end();
  });
  return router;
}
