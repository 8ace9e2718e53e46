import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { CRON_JOBS } from '../../cron/jobs';
import { lastRuns, listRuns, type CronRunRow } from '../../db/cron-runs';
import { hasPermission } from '../../domain/permissions';
import { ForbiddenError, UnauthorizedError } from '../../errors';
import { ErrorBody, registry } from '../openapi';
import { pageQuery, pageResponse } from '../pagination';
import { principalOf } from '../principal';
import { query } from '../validate';

/**
 * Job history is platform-wide, not tenant data. Tenant operators with `cron:read` see which jobs
 * exist, when they ran and how it went; the platform admin additionally sees error texts, results and
 * the host, which can name other tenants' rows.
 */
const requireCronRead: RequestHandler = (req, _res, next) => {
  const p = req.principal;
  if (!p) return next(new UnauthorizedError());
  if (p.kind === 'platform' || hasPermission(p.permissions, 'cron:read')) return next();
  next(new ForbiddenError('missing permission cron:read', 'forbidden', { permission: 'cron:read' }));
};

const CronRun = z
  .object({
    id: z.number(),
    job_name: z.string(),
    tick_at: z.string(),
    started_at: z.string(),
    finished_at: z.string().nullable(),
    duration_ms: z.number().nullable(),
    outcome: z.enum(['running', 'success', 'failed', 'skipped']),
    error: z.string().nullable().optional().openapi({ description: 'platform admin only' }),
    result: z.record(z.unknown()).nullable().optional().openapi({ description: 'platform admin only' }),
    host: z.string().nullable().optional().openapi({ description: 'platform admin only' }),
  })
  .openapi('CronRun');

const CronJobView = z
  .object({ name: z.string(), schedule: z.string(), timezone: z.literal('UTC'), last_run: CronRun.nullable() })
  .openapi('CronJob');

const runsQuery = pageQuery.extend({
  job: z.string().max(100).optional(),
  outcome: z.enum(['running', 'success', 'failed', 'skipped']).optional(),
});

registry.registerPath({
  method: 'get',
  path: '/api/v1/cron/jobs',
  tags: ['cron'],
  summary: 'Scheduled jobs with their last run (cron:read or platform admin)',
  responses: {
    200: { description: 'jobs', content: { 'application/json': { schema: z.object({ data: z.array(CronJobView) }) } } },
    403: { description: 'forbidden', content: { 'application/json': { schema: ErrorBody } } },
  },
});
registry.registerPath({
  method: 'get',
  path: '/api/v1/cron/runs',
  tags: ['cron'],
  summary: 'Job run history, newest first (cron:read or platform admin)',
  request: { query: runsQuery },
  responses: {
    200: { description: 'runs', content: { 'application/json': { schema: pageResponse(CronRun) } } },
    400: { description: 'bad query', content: { 'application/json': { schema: ErrorBody } } },
  },
});

function present(row: CronRunRow, full: boolean) {
  const base = {
    id: row.id,
    job_name: row.job_name,
    tick_at: row.tick_at.toISOString(),
    started_at: row.started_at.toISOString(),
    finished_at: row.finished_at ? row.finished_at.toISOString() : null,
    duration_ms: row.duration_ms,
    outcome: row.outcome,
  };
  return full ? { ...base, error: row.error, result: row.result, host: row.host } : base;
}

export function cronRouter(ctx: AppContext): Router {
  const router = Router();
  router.get('/cron/jobs', requireCronRead, async (req, res) => {
    const full = principalOf(req).kind === 'platform';
    const last = await lastRuns(ctx.db, CRON_JOBS.map((j) => j.name));
    res.json({
      data: CRON_JOBS.map((j) => {
        const run = last.get(j.name);
        return { name: j.name, schedule: j.schedule, timezone: 'UTC', last_run: run ? present(run, full) : null };
      }),
    });
  });
  router.get('/cron/runs', requireCronRead, async (req, res) => {
    const q = query(req, runsQuery);
    const full = principalOf(req).kind === 'platform';
    const page = await listRuns(ctx.readDb(), { limit: q.limit, cursor: q.cursor }, { job: q.job, outcome: q.outcome });
    res.json({ data: page.data.map((r) => present(r, full)), next_cursor: page.next_cursor });
  });
  return router;
}
