import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { findTenant } from '../../db/tenants';
import { accountDailyCap, capHour, warmingSince } from '../../domain/campaign-controls';
import { capDay } from '../../domain/throttle';
import { NotFoundError } from '../../errors';
import { keys } from '../../sending/redis-scripts';
import { auditRequest } from '../audit';
import { requirePermission } from '../authenticate';
import { isoDateTime } from '../fields';
import { tenantIdOf } from '../principal';
import { body, params } from '../validate';
import { documentRoute } from './route-docs';

/**
 * An account's sending limits as the pacer applies them now: today's daily cap (the warm-up ramp's
 * allowance while it warms), the hourly cap, what was sent against each, and a risk pause; and the
 * switch that marks an account warming (its ramp starts again from day one).
 */
const idParams = z.object({ id: z.string().uuid() });

const WarmupBody = z
  .object({
    warming: z.boolean().describe('true: the ramp starts (again) from day one; false: the mark is removed (the ramp then counts from the creation when it covers new accounts)'),
    since: isoDateTime.optional().describe('ramp start (default now); an earlier date resumes a ramp'),
  })
  .strict();

const LimitsOut = z
  .object({
    account_id: z.string(),
    warming_since: z.string().nullable().describe('null: the account is warm (or warms from its creation when the ramp covers new accounts; see daily_cap)'),
    daily_cap: z.number().nullable().describe("today's cap of the account (warm-up applied); null = only the tenant's daily cap"),
    sent_today: z.number(),
    hourly_cap: z.number().nullable(),
    sent_this_hour: z.number(),
    risk_paused_until: z.string().nullable(),
  })
  .openapi('AccountLimits');

const T = 'accounts';
documentRoute({ method: 'get', path: '/api/v1/accounts/{id}/limits', tag: T, summary: "The account's caps today (warm-up applied), what it sent against them, and a risk pause", permission: 'accounts:read', params: idParams, response: LimitsOut });
documentRoute({ method: 'post', path: '/api/v1/accounts/{id}/warmup', tag: T, summary: 'Mark the account warming (its daily ramp starts from day one) or warm', permission: 'accounts:write', params: idParams, body: WarmupBody, response: LimitsOut, errors: [400, 401, 403, 404] });

export function accountLimitsRouter(ctx: AppContext): Router {
  const router = Router();

  const limitsOf = async (tenantId: string, id: string) => {
    const account = await ctx.db('wework_accounts').select('id', 'warming_since', 'created_at').where({ tenant_id: tenantId, id }).first();
    if (!account) throw new NotFoundError('account', id);
    const tenant = (await findTenant(ctx.db, tenantId))!;
    const now = new Date();
    const c = tenant.campaign_controls;
    const day = capDay(now, tenant.timezone);
    const [sentToday, sentHour, pauseMs] = await Promise.all([
      ctx.redis.get(keys.accountDay(ctx.config.redis, id, day)),
      ctx.redis.get(keys.accountHour(ctx.config.redis, id, capHour(now, tenant.timezone))),
      ctx.redis.pttl(keys.riskPause(ctx.config.redis, id)),
    ]);
    const since = warmingSince(c.warmup, account);
    const daily = accountDailyCap(c, account, tenant.max_daily_messages, now, tenant.timezone);
    return {
      account_id: id,
      warming_since: account.warming_since ? new Date(account.warming_since).toISOString() : since && c.warmup ? new Date(since).toISOString() : null,
      daily_cap: daily > 0 ? daily : null,
      sent_today: Number(sentToday ?? 0),
      hourly_cap: c.account_hourly_cap,
      sent_this_hour: Number(sentHour ?? 0),
      risk_paused_until: pauseMs > 0 ? new Date(now.getTime() + pauseMs).toISOString() : null,
    };
  };

  router.get('/accounts/:id/limits', requirePermission('accounts:read'), async (req, res) => {
    const { id } = params(req, idParams);
    res.json(await limitsOf(tenantIdOf(req), id));
  });

  router.post('/accounts/:id/warmup', requirePermission('accounts:write'), async (req, res) => {
    const { id } = params(req, idParams);
    const b = body(req, WarmupBody);
    const tenantId = tenantIdOf(req);
    const since = b.warming ? (b.since ? new Date(b.since) : new Date()) : null;
    await ctx.db.transaction(async (trx) => {
      const n = await trx('wework_accounts').where({ tenant_id: tenantId, id }).update({ warming_since: since });
      if (!n) throw new NotFoundError('account', id);
      await auditRequest(trx, req, 'account.warmup', { type: 'account', id }, { warming: b.warming, since: since?.toISOString() ?? null });
    });
    res.json(await limitsOf(tenantId, id));
  });
  return router;
}
