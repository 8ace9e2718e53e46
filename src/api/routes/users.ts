import { Router, type Request, type Response } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { LoginGuard } from '../../auth/login-guard';
import { hashPassword } from '../../auth/passwords';
import type { AppContext } from '../../context';
import { revokeKeysCreatedBy } from '../../db/api-keys';
import { permissionsOfUser } from '../../db/principals';
import { revokeUserRefreshTokens } from '../../db/refresh-tokens';
import { findTenantRoles, setUserRoles } from '../../db/roles';
import { bumpTokenVersion, duplicateUserField, getUser, insertUser, loginNameOfUser, updateUser, usersQuery, withRoles, type UserRow } from '../../db/users';
import { nextUserStatus, type UserAction } from '../../domain/lifecycles';
import { ConflictError, NotFoundError, UnprocessableError } from '../../errors';
import { auditRequest } from '../audit';
import { requirePermission } from '../authenticate';
import { paginate, pageQuery, pageResponse } from '../pagination';
import { principalOf, tenantIdOf } from '../principal';
import { body, params, query } from '../validate';
import { IdParams, Password, UserOut } from './access-schemas';
import { assertNotOutranked, assertWithinOwnPermissions } from './grants';
import { keepingAnAdmin } from './last-admin';
import { documentRoute } from './route-docs';
import { httpUrl } from '../fields';

const RoleIds = z.array(z.string().min(1).max(36)).max(50);
const CreateUserBody = z.object({
  username: z.string().trim().regex(/^[A-Za-z0-9._@-]{1,50}$/, 'letters, digits and . _ @ -, at most 50'),
  email: z.string().trim().email().max(100),
  password: Password,
  real_name: z.string().trim().max(50).optional(),
  phone: z.string().trim().max(20).optional(),
  role_ids: RoleIds.default([]),
});
const UpdateUserBody = z
  .object({
    email: z.string().trim().email().max(100),
    real_name: z.string().trim().max(50).nullable(),
    phone: z.string().trim().max(20).nullable(),
    avatar_url: httpUrl.nullable(),
  })
  .partial()
  .strict();
const SetRolesBody = z.object({ role_ids: RoleIds });
const ResetPasswordBody = z.object({ password: Password });
const ListUsersQuery = pageQuery.extend({
  status: z.enum(['active', 'inactive', 'locked', 'deleted']).optional(),
  q: z.string().trim().min(1).max(100).optional().describe('prefix of username or email'),
  role_id: z.string().max(36).optional(),
});

const tag = 'Users';
const read = 'users:read';
const write = 'users:write';
documentRoute({ method: 'get', path: '/api/v1/users', tag, permission: read, summary: 'List operators (cursor pagination; filter by status, username/email prefix, role)', query: ListUsersQuery, response: pageResponse(UserOut) });
documentRoute({ method: 'post', path: '/api/v1/users', tag, permission: write, summary: 'Create an operator, optionally with roles', body: CreateUserBody, response: UserOut, status: 201, errors: [400, 401, 403, 409, 422] });
documentRoute({ method: 'get', path: '/api/v1/users/{id}', tag, permission: read, summary: 'Get an operator', params: IdParams, response: UserOut });
documentRoute({ method: 'patch', path: '/api/v1/users/{id}', tag, permission: write, summary: 'Update email, name, phone, avatar', params: IdParams, body: UpdateUserBody, response: UserOut, errors: [400, 401, 403, 404, 409] });
documentRoute({ method: 'put', path: '/api/v1/users/{id}/roles', tag, permission: write, summary: "Replace the operator's roles (role ids of this tenant; nobody grants more than they hold)", params: IdParams, body: SetRolesBody, response: UserOut, errors: [400, 401, 403, 404, 422] });
documentRoute({ method: 'post', path: '/api/v1/users/{id}/reset-password', tag, permission: write, summary: 'Set a new password (unlocks and ends all sessions)', params: IdParams, body: ResetPasswordBody, response: UserOut, errors: [400, 401, 403, 404] });
for (const [action, summary] of [
  ['unlock', 'Unlock a locked operator and clear its failed-login count'],
  ['deactivate', 'Deactivate an operator (logins and tokens refused; sessions ended; API keys it created revoked)'],
  ['activate', 'Re-activate a deactivated operator'],
] as const) {
  documentRoute({ method: 'post', path: `/api/v1/users/{id}/${action}`, tag, permission: write, summary, params: IdParams, response: UserOut, errors: [401, 403, 404, 409] });
}
documentRoute({ method: 'delete', path: '/api/v1/users/{id}', tag, permission: write, summary: 'Delete an operator (status deleted, sessions ended, API keys it created revoked; the row is kept for the audit trail)', params: IdParams, errors: [401, 403, 404, 409] });

/**
 * Checks that every role id belongs to the caller's tenant and that the caller holds every permission
 * the roles grant, and returns the roles' codes for the audit row.
 */
async function checkRoleGrant(db: Knex | Knex.Transaction, req: Request, tenantId: string, roleIds: string[]): Promise<string[]> {
  const unique = [...new Set(roleIds)];
  const roles = await findTenantRoles(db, tenantId, unique);
  const missing = unique.filter((id) => !roles.some((r) => r.id === id));
  if (missing.length > 0) {
    throw new UnprocessableError('unknown_role', `role_ids contains roles that do not exist in this tenant: ${missing.join(', ')}`, {
      field: 'body.role_ids',
      role_ids: missing,
    });
  }
  assertWithinOwnPermissions(req, roles.flatMap((r) => r.permissions), 'body.role_ids');
  return roles.map((r) => r.role_code);
}

function rethrowDuplicate(err: unknown): never {
  const field = duplicateUserField(err);
  if (field) throw new ConflictError(`${field} is already used in this tenant`, 'duplicate', { field: `body.${field}` });
  throw err;
}

async function loadUser(db: Knex | Knex.Transaction, tenantId: string, id: string, forUpdate = false): Promise<UserRow> {
  const user = await getUser(db, tenantId, id, { forUpdate });
  if (!user) throw new NotFoundError('user', id);
  return user;
}

/** The operator a write acts on, row-locked, refused when it outranks the caller. */
async function loadUserToChange(trx: Knex.Transaction, req: Request, tenantId: string, id: string): Promise<UserRow> {
  const user = await loadUser(trx, tenantId, id, true);
  assertNotOutranked(req, { type: 'user', id, permissions: await permissionsOfUser(trx, id) });
  return user;
}

export function usersRouter(ctx: AppContext): Router {
  const router = Router();
  const guard = new LoginGuard(ctx.redis, ctx.config.redis.prefix, ctx.config.auth);
  const clearLoginLock = async (userId: string) => {
    const name = await loginNameOfUser(ctx.db, userId);
    if (name) await guard.clear(name);
  };
  const reply = async (res: Response, tenantId: string, id: string, status = 200) => {
    const [user] = await withRoles(ctx.db, [await loadUser(ctx.db, tenantId, id)]);
    res.status(status).json(user);
  };

  router.get('/users', requirePermission('users:read'), async (req, res) => {
    const q = query(req, ListUsersQuery);
    const page = await paginate<UserRow>(usersQuery(ctx.db, tenantIdOf(req), { status: q.status, q: q.q, roleId: q.role_id }), q, 'users');
    res.json({ data: await withRoles(ctx.db, page.data), next_cursor: page.next_cursor });
  });

  router.get('/users/:id', requirePermission('users:read'), async (req, res) => {
    await reply(res, tenantIdOf(req), params(req, IdParams).id);
  });

  router.post('/users', requirePermission('users:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const input = body(req, CreateUserBody);
    const passwordHash = await hashPassword(ctx.config.auth, input.password);
    const id = await ctx.db.transaction(async (trx) => {
      const roleCodes = await checkRoleGrant(trx, req, tenantId, input.role_ids);
      const userId = await insertUser(trx, {
        tenantId,
        username: input.username,
        email: input.email,
        passwordHash,
        realName: input.real_name,
        phone: input.phone,
      }).catch(rethrowDuplicate);
      await setUserRoles(trx, userId, input.role_ids, principalOf(req).id);
      await auditRequest(trx, req, 'user.create', { type: 'user', id: userId }, { username: input.username, email: input.email, roles: roleCodes });
      return userId;
    });
    await reply(res, tenantId, id, 201);
  });

  router.patch('/users/:id', requirePermission('users:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, IdParams);
    const patch = body(req, UpdateUserBody);
    await ctx.db.transaction(async (trx) => {
      await loadUserToChange(trx, req, tenantId, id);
      await updateUser(trx, tenantId, id, patch).catch(rethrowDuplicate);
      await auditRequest(trx, req, 'user.update', { type: 'user', id }, { changes: patch });
    });
    await reply(res, tenantId, id);
  });

  router.put('/users/:id/roles', requirePermission('users:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, IdParams);
    const input = body(req, SetRolesBody);
    await ctx.db.transaction(async (trx) => {
      await loadUserToChange(trx, req, tenantId, id);
      const roleCodes = await checkRoleGrant(trx, req, tenantId, input.role_ids);
      await keepingAnAdmin(trx, tenantId, () => setUserRoles(trx, id, [...new Set(input.role_ids)], principalOf(req).id));
      await auditRequest(trx, req, 'user.roles_set', { type: 'user', id }, { roles: roleCodes });
    });
    await reply(res, tenantId, id);
  });

  router.post('/users/:id/reset-password', requirePermission('users:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, IdParams);
    const input = body(req, ResetPasswordBody);
    const passwordHash = await hashPassword(ctx.config.auth, input.password);
    await ctx.db.transaction(async (trx) => {
      const user = await loadUserToChange(trx, req, tenantId, id);
      await updateUser(trx, tenantId, id, {
        password_hash: passwordHash,
        failed_login_count: 0,
        locked_until: null,
        ...(user.status === 'locked' ? { status: 'active' } : {}),
      });
      // The old password's sessions end: refresh tokens revoked, access tokens outdated.
      await bumpTokenVersion(trx, id);
      const revoked = await revokeUserRefreshTokens(trx, id);
      await auditRequest(trx, req, 'user.password_reset', { type: 'user', id }, { sessions_revoked: revoked });
    });
    ctx.realtime.endSessions({ userId: id });
    await clearLoginLock(id);
    await reply(res, tenantId, id);
  });

  const transition = (action: UserAction) => async (req: Request, res: Response) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, IdParams);
    if (action !== 'unlock' && action !== 'activate' && id === principalOf(req).id) {
      throw new ConflictError(`you cannot ${action} yourself`, 'cannot_target_self');
    }
    const keysRevoked = await ctx.db.transaction(async (trx) => {
      const user = await loadUserToChange(trx, req, tenantId, id);
      const status = nextUserStatus(user.status, action);
      const patch: Record<string, unknown> = { status };
      if (action === 'unlock') Object.assign(patch, { failed_login_count: 0, locked_until: null });
      await keepingAnAdmin(trx, tenantId, () => updateUser(trx, tenantId, id, patch));
      const ending = action === 'deactivate' || action === 'delete';
      if (ending) await bumpTokenVersion(trx, id);
      const revoked = ending ? await revokeUserRefreshTokens(trx, id) : undefined;
      // Keys die with their creator (and stay revoked if the operator is re-activated).
      const keysRevoked = ending ? await revokeKeysCreatedBy(trx, tenantId, [id]) : undefined;
      await auditRequest(trx, req, `user.${action}`, { type: 'user', id }, { from: user.status, to: status, sessions_revoked: revoked, api_keys_revoked: keysRevoked });
      return keysRevoked;
    });
    if (keysRevoked) ctx.realtime.endSessions({ userId: id, apiKeyIds: keysRevoked });
    if (action === 'unlock') await clearLoginLock(id);
    if (action === 'delete') {
      res.status(204).end();
      return;
    }
    await reply(res, tenantId, id);
  };
  router.post('/users/:id/unlock', requirePermission('users:write'), transition('unlock'));
  router.post('/users/:id/deactivate', requirePermission('users:write'), transition('deactivate'));
  router.post('/users/:id/activate', requirePermission('users:write'), transition('activate'));
  router.delete('/users/:id', requirePermission('users:write'), transition('delete'));
  return router;
}
