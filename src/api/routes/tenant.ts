import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { findTenant, updateTenant, type TenantPatch } from '../../db/tenants';
import { ForbiddenError, NotFoundError } from '../../errors';
import { auditRequest } from '../audit';
import { requirePermission } from '../authenticate';
import { tenantIdOf } from '../principal';
import { body } from '../validate';
import { TenantOut } from './access-schemas';
import { TenantPlatformFields, TenantSelfFields } from './platform';
import { documentRoute } from './route-docs';

const UpdateOwnTenantBody = z.object(TenantSelfFields).partial().strict();
const PLATFORM_ONLY = [...Object.keys(TenantPlatformFields), 'status', 'tenant_code'];

documentRoute({ method: 'get', path: '/api/v1/tenant', tag: 'Tenant', permission: 'tenant:read', summary: "The caller's tenant (quotas, settings)", response: TenantOut });
documentRoute({
  method: 'patch',
  path: '/api/v1/tenant',
  tag: 'Tenant',
  permission: 'tenant:write',
  summary: 'Update own tenant name, contacts, time zone, webhook and settings (plan and quotas are set by the platform admin)',
  body: UpdateOwnTenantBody,
  response: TenantOut,
});

export function tenantRouter(ctx: AppContext): Router {
  const router = Router();
  router.get('/tenant', requirePermission('tenant:read'), async (req, res) => {
    const tenant = await findTenant(ctx.db, tenantIdOf(req));
    if (!tenant) throw new NotFoundError('tenant');
    res.json(tenant);
  });

  router.patch('/tenant', requirePermission('tenant:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const raw = (req.body ?? {}) as Record<string, unknown>;
    const forbidden = PLATFORM_ONLY.filter((f) => f in raw);
    if (forbidden.length > 0) {
      throw new ForbiddenError('plan, quotas and status are managed by the platform admin', 'platform_only_field', {
        fields: forbidden.map((f) => `body.${f}`),
      });
    }
    const patch = body(req, UpdateOwnTenantBody) as TenantPatch;
    await ctx.db.transaction(async (trx) => {
      await updateTenant(trx, tenantId, patch);
      await auditRequest(trx, req, 'tenant.update', { type: 'tenant', id: tenantId }, { changes: patch });
    });
    res.json(await findTenant(ctx.db, tenantId));
  });
  return router;
}
