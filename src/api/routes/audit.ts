import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { auditQuery, decodeAudit, type AuditFilters } from '../../db/audit';
import { requirePermission } from '../authenticate';
import { registry } from '../openapi';
import { paginate, pageQuery, pageResponse } from '../pagination';
import { tenantIdOf } from '../principal';
import { query } from '../validate';
import { documentRoute } from './route-docs';
import { isoDateOrDateTimeAsDate } from '../fields';

export const AuditLogOut = registry.register(
  'AuditLog',
  z.object({
    id: z.string(),
    tenant_id: z.string().nullable(),
    actor_type: z.enum(['user', 'api_key', 'platform', 'system']),
    actor_id: z.string().nullable(),
    action: z.string().describe('resource.action, e.g. user.create'),
    target_type: z.string().nullable(),
    target_id: z.string().nullable(),
    ip: z.string().nullable(),
    user_agent: z.string().nullable(),
    request_id: z.string().nullable(),
    details: z.unknown(),
    created_at: z.string(),
  }),
);

export const AuditFilterQuery = pageQuery.extend({
  action: z.string().max(100).optional().describe('exact action, or a prefix like `user.*`'),
  target_type: z.string().max(50).optional(),
  target_id: z.string().max(100).optional(),
  actor_id: z.string().max(100).optional(),
  actor_type: z.enum(['user', 'api_key', 'platform', 'system']).optional(),
  from: isoDateOrDateTimeAsDate.optional().describe('inclusive, ISO 8601'),
  to: isoDateOrDateTimeAsDate.optional().describe('exclusive, ISO 8601'),
});

export function auditFiltersOf(q: z.infer<typeof AuditFilterQuery>): AuditFilters {
  return {
    action: q.action,
    targetType: q.target_type,
    targetId: q.target_id,
    actorId: q.actor_id,
    actorType: q.actor_type,
    from: q.from,
    to: q.to,
  };
}

documentRoute({
  method: 'get',
  path: '/api/v1/audit-logs',
  tag: 'Audit',
  permission: 'audit:read',
  summary: "The tenant's audit log: who did what to which target, when and from where (newest first)",
  query: AuditFilterQuery,
  response: pageResponse(AuditLogOut),
});

export function auditRouter(ctx: AppContext): Router {
  const router = Router();
  router.get('/audit-logs', requirePermission('audit:read'), async (req, res) => {
    const q = query(req, AuditFilterQuery);
    const page = await paginate<Record<string, unknown> & { id: number; created_at: Date }>(
      auditQuery(ctx.readDb(), tenantIdOf(req), auditFiltersOf(q)),
      q,
    );
    res.json({ data: page.data.map(decodeAudit), next_cursor: page.next_cursor });
  });
  return router;
}
