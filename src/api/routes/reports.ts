import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { statisticsByAccount, statisticsHours } from '../../db/statistics';
import { combine, isTimeZone, series, type Granularity } from '../../domain/report-series';
import { NotFoundError, ValidationError } from '../../errors';
import { requirePermission } from '../authenticate';
import { ErrorBody, registry } from '../openapi';
import { tenantIdOf } from '../principal';
import { query } from '../validate';
import { isoDateTime } from '../fields';

/**
 * Send reports from the hourly roll-up (message_statistics; see src/db/statistics.ts for what each
 * number means). Hourly periods are UTC hours; daily periods are days in the tenant's time zone (or
 * `timezone`). success_rate = success / (success + failed): messages still in flight count in total only.
 */
const MAX_SPAN_DAYS: Record<Granularity, number> = { hour: 31, day: 400 };
const DEFAULT_SPAN_MS: Record<Granularity, number> = { hour: 24 * 3_600_000, day: 30 * 86_400_000 };

const rangeQuery = z.object({
  from: isoDateTime.optional().openapi({ description: 'inclusive, ISO-8601; default: 24 h (hour) or 30 days (day) before `to`' }),
  to: isoDateTime.optional().openapi({ description: 'exclusive, ISO-8601; default now' }),
  granularity: z.enum(['hour', 'day']).default('hour'),
  account_id: z.string().max(36).optional(),
  timezone: z
    .string()
    .max(64)
    .refine(isTimeZone, 'unknown IANA time zone')
    .optional()
    .openapi({ description: "IANA zone for daily periods; default the tenant's time zone" }),
});

/** The per-account breakdown is paged by account id (keyset): a tenant may have thousands of accounts. */
const accountsQuery = rangeQuery.omit({ granularity: true, account_id: true, timezone: true }).extend({
  limit: z.coerce.number().int().min(1).max(200).default(100),
  cursor: z.string().max(100).optional().openapi({ description: '`next_cursor` of the previous page' }),
});
const accountCursor = {
  encode: (accountId: string) => Buffer.from(JSON.stringify({ a: accountId })).toString('base64url'),
  decode(cursor: string): string {
    try {
      const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { a?: unknown };
      if (typeof v.a === 'string' && v.a.length <= 36) return v.a;
    } catch {
      // reported below
    }
    throw new ValidationError([{ field: 'query.cursor', message: 'invalid cursor' }]);
  },
};

const Numbers = z.object({
  total: z.number(),
  success: z.number(),
  failed: z.number(),
  success_rate: z.number().nullable(),
  avg_response_time: z.number().nullable().openapi({ description: 'seconds from creation to gateway acceptance' }),
});
const MessageReport = z
  .object({
    from: z.string(),
    to: z.string(),
    granularity: z.enum(['hour', 'day']),
    timezone: z.string(),
    account_id: z.string().nullable(),
    totals: Numbers,
    series: z.array(Numbers.extend({ period: z.string() })),
  })
  .openapi('MessageReport');
const AccountReport = z
  .object({
    from: z.string(),
    to: z.string(),
    data: z.array(
      z.object({
        account_id: z.string(),
        account_name: z.string().nullable().openapi({ description: 'null once the account is deleted' }),
        total: z.number(),
        success: z.number(),
        failed: z.number(),
        success_rate: z.number().nullable(),
      }),
    ),
    next_cursor: z.string().nullable().openapi({ description: 'pass as `cursor` for the next page of accounts' }),
  })
  .openapi('AccountReport');

const err = { description: 'invalid request', content: { 'application/json': { schema: ErrorBody } } };
registry.registerPath({
  method: 'get',
  path: '/api/v1/reports/messages',
  tags: ['reports'],
  summary: 'Hourly or daily send series with totals and success rate, for the tenant or one account (reports:read)',
  request: { query: rangeQuery },
  responses: { 200: { description: 'report', content: { 'application/json': { schema: MessageReport } } }, 400: err, 404: err },
});
registry.registerPath({
  method: 'get',
  path: '/api/v1/reports/accounts',
  tags: ['reports'],
  summary: 'Per-account totals and success rate over a time range (reports:read)',
  request: { query: accountsQuery },
  responses: { 200: { description: 'report', content: { 'application/json': { schema: AccountReport } } }, 400: err },
});

function resolveRange(q: z.infer<typeof rangeQuery>): { from: Date; to: Date } {
  const to = q.to ? new Date(q.to) : new Date();
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - DEFAULT_SPAN_MS[q.granularity]);
  if (from >= to) throw new ValidationError([{ field: 'query.from', message: 'must be before `to`' }]);
  if (to.getTime() - from.getTime() > MAX_SPAN_DAYS[q.granularity] * 86_400_000) {
    throw new ValidationError([{ field: 'query.from', message: `range too long for ${q.granularity} granularity (max ${MAX_SPAN_DAYS[q.granularity]} days)` }]);
  }
  return { from, to };
}

export function reportsRouter(ctx: AppContext): Router {
  const router = Router();

  router.get('/reports/messages', requirePermission('reports:read'), async (req, res) => {
    const q = query(req, rangeQuery);
    const tenantId = tenantIdOf(req);
    const { from, to } = resolveRange(q);
    if (q.account_id) {
      const owned = await ctx.db('wework_accounts').where({ id: q.account_id, tenant_id: tenantId }).first('id');
      if (!owned) throw new NotFoundError('account', q.account_id);
    }
    const timezone = q.timezone ?? ((await ctx.db('tenants').where({ id: tenantId }).first('timezone'))?.timezone as string | undefined) ?? 'UTC';
    // The roll-up is read on the replica; ownership and the time zone above on the primary.
    const hours = await statisticsHours(ctx.readDb(), { tenantId, accountId: q.account_id, from, to });
    res.json({
      from: from.toISOString(),
      to: to.toISOString(),
      granularity: q.granularity,
      timezone,
      account_id: q.account_id ?? null,
      totals: combine(hours),
      series: series(hours, q.granularity, timezone),
    });
  });

  router.get('/reports/accounts', requirePermission('reports:read'), async (req, res) => {
    const q = query(req, accountsQuery);
    const tenantId = tenantIdOf(req);
    const { from, to } = resolveRange({ ...q, granularity: 'day' });
    const after = q.cursor ? accountCursor.decode(q.cursor) : undefined;
    const db = ctx.readDb();
    const rows = await statisticsByAccount(db, { tenantId, from, to, after, limit: q.limit + 1 });
    const page = rows.slice(0, q.limit);
    const names = new Map<string, string>(
      page.length ? (await db('wework_accounts').where({ tenant_id: tenantId }).whereIn('id', page.map((r) => r.account_id)).select('id', 'account_name')).map((a: { id: string; account_name: string }) => [a.id, a.account_name]) : [],
    );
    res.json({
      from: from.toISOString(),
      to: to.toISOString(),
      data: page.map((r) => ({ ...r, account_name: names.get(r.account_id) ?? null })),
      next_cursor: rows.length > q.limit ? accountCursor.encode(page[page.length - 1].account_id) : null,
    });
  });

  return router;
}
