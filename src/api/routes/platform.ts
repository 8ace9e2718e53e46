import { Router, type Request } from 'express';
import { z } from 'zod';
import { hashPassword } from '../../auth/passwords';
import type { AppContext } from '../../context';
import { auditQuery, decodeAudit } from '../../db/audit';
import { revokeTenantApiKeys } from '../../db/api-keys';
import { revokeTenantRefreshTokens } from '../../db/refresh-tokens';
import { assignRole } from '../../db/roles';
import { decodeTenant, getTenantAnyStatus, insertTenant, tenantCodesById, tenantsQuery, updateTenant, type TenantPatch } from '../../db/tenants';
import { duplicateUserField, insertUser, withRoles } from '../../db/users';
import { nextTenantStatus, type TenantAction } from '../../domain/lifecycles';
import { ConflictError, NotFoundError } from '../../errors';
import { requirePlatformAdmin } from '../authenticate';
import { paginate, pageQuery, pageResponse } from '../pagination';
import { body, params, query } from '../validate';
import { IdParams, Password, TenantOut, TimeZone, UserOut } from './access-schemas';
import { AuditLogOut, AuditFilterQuery, auditFiltersOf } from './audit';
import { auditPlatform } from '../audit';
import { documentRoute } from './route-docs';
import { registry } from '../openapi';
import { httpUrl } from '../fields';
import { CampaignControlsSchema } from './campaign-controls-schema';

const nullableText = (max: number) => z.string().trim().max(max).nullable();

/** Fields a tenant admin may change about its own tenant (see tenant.ts). */
export const TenantSelfFields = {
  tenant_name: z.string().trim().min(1).max(100),
  contact_person: nullableText(50),
  contact_phone: nullableText(20),
  contact_email: z.string().trim().email().max(100).nullable(),
  timezone: TimeZone,
  webhook_url: httpUrl.nullable(),
  config: z.record(z.unknown()),
  campaign_controls: CampaignControlsSchema,
};

/** Plan and quotas are commercial terms: only the platform admin sets them. */
export const TenantPlatformFields = {
  plan: z.string().trim().min(1).max(20),
  max_accounts: z.number().int().min(0).max(1_000_000),
  max_daily_messages: z.number().int().min(0).max(1_000_000_000),
};

const CreateTenantBody = z
  .object({
    tenant_code: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{1,49}$/, 'lower-case letters, digits, _ and -, 2 to 50 characters'),
    ...TenantSelfFields,
    ...TenantPlatformFields,
    admin: z
      .object({
        username: z.string().trim().min(1).max(50),
        email: z.string().trim().email().max(100),
        password: Password,
        real_name: z.string().trim().max(50).optional(),
      })
      .optional(),
  })
  .partial({
    contact_person: true,
    contact_phone: true,
    contact_email: true,
    timezone: true,
    webhook_url: true,
    config: true,
    campaign_controls: true,
    plan: true,
    max_accounts: true,
    max_daily_messages: true,
  });

const UpdateTenantBody = z.object({ ...TenantSelfFields, ...TenantPlatformFields }).partial().strict();
const ListTenantsQuery = pageQuery.extend({
  status: z.enum(['active', 'suspended', 'deleted']).optional(),
  q: z.string().trim().min(1).max(100).optional(),
});
const CreatedTenant = z.object({ tenant: TenantOut, admin_user: UserOut.nullable() });
const PlatformAuditQuery = AuditFilterQuery.extend({ tenant_id: z.string().max(36).optional() });
const PlatformAuditLogOut = registry.register('PlatformAuditLog', AuditLogOut.extend({ tenant_code: z.string().nullable().describe("the entry's tenant's code; null for platform-wide entries") }));

const tag = 'Platform';
const admin = 'platform admin';
documentRoute({ method: 'post', path: '/api/v1/platform/tenants', tag, permission: admin, summary: 'Create a tenant with built-in roles and optionally its first admin operator', body: CreateTenantBody, response: CreatedTenant, status: 201, errors: [400, 401, 403, 409] });
documentRoute({ method: 'get', path: '/api/v1/platform/tenants', tag, permission: admin, summary: 'List tenants (cursor pagination, filter by status)', query: ListTenantsQuery, response: pageResponse(TenantOut) });
documentRoute({ method: 'get', path: '/api/v1/platform/tenants/{id}', tag, permission: admin, summary: 'Get a tenant (deleted ones included)', params: IdParams, response: TenantOut });
documentRoute({ method: 'patch', path: '/api/v1/platform/tenants/{id}', tag, permission: admin, summary: 'Update name, contacts, plan, time zone, quotas, settings, webhook', params: IdParams, body: UpdateTenantBody, response: TenantOut, errors: [400, 401, 403, 404, 409] });
for (const [action, summary] of [
  ['suspend', 'Suspend a tenant: every call of its operators and API keys is refused (403 tenant_suspended)'],
  ['resume', 'Resume a suspended tenant'],
] as const) {
  documentRoute({ method: 'post', path: `/api/v1/platform/tenants/{id}/${action}`, tag, permission: admin, summary, params: IdParams, response: TenantOut, errors: [401, 403, 404, 409] });
}
documentRoute({ method: 'delete', path: '/api/v1/platform/tenants/{id}', tag, permission: admin, summary: 'Soft-delete a tenant (status deleted; tokens and API keys revoked; rows kept)', params: IdParams, response: TenantOut, errors: [401, 403, 404, 409] });
documentRoute({ method: 'get', path: '/api/v1/platform/audit-logs', tag, permission: admin, summary: 'Audit log across tenants (filter by tenant_id)', query: PlatformAuditQuery, response: pageResponse(PlatformAuditLogOut) });

export function platformRouter(ctx: AppContext): Router {
  const router = Router();
  router.use('/platform', requirePlatformAdmin());

  router.post('/platform/tenants', async (req, res) => {
    const input = body(req, CreateTenantBody);
    const passwordHash = input.admin ? await hashPassword(ctx.config.auth, input.admin.password) : undefined;
    const taken = await ctx.db('tenants').where({ tenant_code: input.tenant_code }).first('id');
    if (taken) throw new ConflictError(`tenant_code ${input.tenant_code} is taken`, 'duplicate', { field: 'body.tenant_code' });
    const created = await ctx.db.transaction(async (trx) => {
      const { id, roleIds } = await insertTenant(trx, {
        tenantCode: input.tenant_code,
        tenantName: input.tenant_name,
        contactPerson: input.contact_person,
        contactPhone: input.contact_phone,
        contactEmail: input.contact_email,
        plan: input.plan,
        timezone: input.timezone,
        maxAccounts: input.max_accounts,
        maxDailyMessages: input.max_daily_messages,
        webhookUrl: input.webhook_url,
        config: input.config,
        campaignControls: input.campaign_controls,
      });
      await auditPlatform(trx, req, id, 'tenant.create', { type: 'tenant', id }, { tenant_code: input.tenant_code });
      let adminId: string | undefined;
      if (input.admin && passwordHash) {
        try {
          adminId = await insertUser(trx, { tenantId: id, username: input.admin.username, email: input.admin.email, passwordHash, realName: input.admin.real_name });
        } catch (err) {
          const field = duplicateUserField(err);
          if (field) throw new ConflictError(`admin ${field} is taken`, 'duplicate', { field: `body.admin.${field}` });
          throw err;
        }
        await assignRole(trx, adminId, roleIds.admin, adminId);
        await auditPlatform(trx, req, id, 'user.create', { type: 'user', id: adminId }, { username: input.admin.username, roles: ['admin'] });
      }
      return { id, adminId };
    });
    const tenant = await getTenantAnyStatus(ctx.db, created.id);
    const adminUser = created.adminId ? (await withRoles(ctx.db, [await ctx.db('users').where({ id: created.adminId }).first()]))[0] : null;
    res.status(201).json({ tenant, admin_user: adminUser });
  });

  router.get('/platform/tenants', async (req, res) => {
    const q = query(req, ListTenantsQuery);
    const page = await paginate<Record<string, unknown> & { id: string; created_at: Date }>(tenantsQuery(ctx.db, { status: q.status, q: q.q }), q);
    res.json({ data: page.data.map(decodeTenant), next_cursor: page.next_cursor });
  });

  router.get('/platform/tenants/:id', async (req, res) => {
    const { id } = params(req, IdParams);
    const tenant = await getTenantAnyStatus(ctx.db, id);
    if (!tenant) throw new NotFoundError('tenant', id);
    res.json(tenant);
  });

  router.patch('/platform/tenants/:id', async (req, res) => {
    const { id } = params(req, IdParams);
    const patch = body(req, UpdateTenantBody) as TenantPatch;
    await ctx.db.transaction(async (trx) => {
      const tenant = await getTenantAnyStatus(trx, id, { forUpdate: true });
      if (!tenant) throw new NotFoundError('tenant', id);
      if (tenant.status === 'deleted') throw new ConflictError('a deleted tenant cannot be changed', 'tenant_deleted', { current_state: 'deleted' });
      await updateTenant(trx, id, patch);
      await auditPlatform(trx, req, id, 'tenant.update', { type: 'tenant', id }, { changes: patch });
    });
    res.json(await getTenantAnyStatus(ctx.db, id));
  });

  const transition = (action: TenantAction) => async (req: Request, res: import('express').Response) => {
    const { id } = params(req, IdParams);
    await ctx.db.transaction(async (trx) => {
      const tenant = await getTenantAnyStatus(trx, id, { forUpdate: true });
      if (!tenant) throw new NotFoundError('tenant', id);
      const status = nextTenantStatus(tenant.status, action);
      await updateTenant(trx, id, { status });
      let revoked: Record<string, number> | undefined;
      if (action === 'delete') {
        // A deleted tenant's credentials must never work again, even if it were restored by hand.
        revoked = { refresh_tokens: await revokeTenantRefreshTokens(trx, id), api_keys: await revokeTenantApiKeys(trx, id) };
      }
      await auditPlatform(trx, req, id, `tenant.${action}`, { type: 'tenant', id }, { from: tenant.status, to: status, revoked });
    });
    // Realtime sockets of a suspended or deleted tenant close on every API process.
    if (action !== 'resume') ctx.realtime.endSessions({ tenantId: id });
    res.json(await getTenantAnyStatus(ctx.db, id));
  };
  router.post('/platform/tenants/:id/suspend', transition('suspend'));
  router.post('/platform/tenants/:id/resume', transition('resume'));
  router.delete('/platform/tenants/:id', transition('delete'));

  router.get('/platform/audit-logs', async (req, res) => {
    const q = query(req, PlatformAuditQuery);
    const page = await paginate<Record<string, unknown> & { id: number; created_at: Date }>(auditQuery(ctx.readDb(), q.tenant_id ?? null, auditFiltersOf(q)), q);
    const rows = page.data.map(decodeAudit) as Array<Record<string, unknown> & { tenant_id: string | null }>;
    const codes = await tenantCodesById(ctx.readDb(), rows.map((r) => r.tenant_id));
    res.json({ data: rows.map((r) => ({ ...r, tenant_code: r.tenant_id ? (codes.get(r.tenant_id) ?? null) : null })), next_cursor: page.next_cursor });
  });
  return router;
}
