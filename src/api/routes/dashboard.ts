import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { accountsByStatus, activeTasks, messagesByStatusSince, recentAlerts } from '../../db/dashboard';
import { MESSAGE_STATUSES } from '../../db/messages';
import { decodeTasks } from '../../db/tasks';
import { findTenant } from '../../db/tenants';
import { ACCOUNT_STATUSES } from '../../domain/account-state';
import { startOfLocalDay } from '../../domain/local-day';
import { requirePermission } from '../authenticate';
import { tenantIdOf } from '../principal';
import { documentRoute } from './route-docs';
import { presentTask, TaskOut } from './tasks';

const Dashboard = z
  .object({
    accounts: z.record(z.enum(ACCOUNT_STATUSES), z.number()).describe('accounts by status'),
    today: z
      .object({
        since: z.string().describe("start of today in the tenant's time zone"),
        time_zone: z.string(),
        total: z.number(),
        sent: z.number().describe('handed to WeCom (sent or delivered)'),
        delivered: z.number(),
        failed: z.number(),
        unknown: z.number(),
        pending: z.number().describe('waiting or being sent'),
      })
      .describe("today's messages by outcome"),
    active_tasks: z.array(TaskOut).describe('running and paused tasks, newest first (up to 10)'),
    alerts: z
      .array(z.object({ kind: z.enum(['account', 'task', 'callback']), id: z.string(), status: z.string(), message: z.string().nullable(), at: z.string() }))
      .describe('the last 24 hours: accounts gone offline or to error, paused tasks, failed callbacks (up to 20)'),
  })
  .openapi('Dashboard');

documentRoute({ method: 'get', path: '/api/v1/dashboard', tag: 'reports', summary: "The tenant at a glance: accounts by status, today's messages, active tasks, recent alerts", permission: 'reports:read', response: Dashboard });

export function dashboardRouter(ctx: AppContext): Router {
  const router = Router();
  router.get('/dashboard', requirePermission('reports:read'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    // A report: every figure from the replica while it serves reads (src/db/read-replica.ts).
    const reader = ctx.readDb();
    const tenant = await findTenant(reader, tenantId);
    const timeZone = tenant?.timezone ?? 'UTC';
    const now = new Date();
    const since = startOfLocalDay(now, timeZone);
    const [accounts, messages, tasks, alerts] = await Promise.all([
      accountsByStatus(reader, tenantId),
      messagesByStatusSince(reader, tenantId, since),
      activeTasks(reader, tenantId, 10),
      recentAlerts(reader, tenantId, new Date(now.getTime() - 86_400_000), 20),
    ]);
    const n = (s: string) => messages[s] ?? 0;
    res.json({
      accounts: Object.fromEntries(ACCOUNT_STATUSES.map((s) => [s, accounts[s] ?? 0])),
      today: {
        since: since.toISOString(),
        time_zone: timeZone,
        total: MESSAGE_STATUSES.reduce((sum, s) => sum + n(s), 0),
        sent: n('sent') + n('delivered'),
        delivered: n('delivered'),
        failed: n('failed'),
        unknown: n('unknown'),
        pending: n('pending') + n('sending'),
      },
      active_tasks: (await decodeTasks(reader, tasks)).map(presentTask),
      alerts,
    });
  });
  return router;
}
