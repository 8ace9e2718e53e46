import { Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { newId } from '../../db/ids';
import { decodeTask, decodeTasks, findTask, insertTask, TARGET_TYPES, taskListQuery, type SendStrategy, type TaskRow } from '../../db/tasks';
import { findTemplate, markTemplateUsed } from '../../db/templates';
import { TASK_STATUSES } from '../../domain/task-state';
import { compileTemplate, type VariableDefinition } from '../../domain/template-render';
import { NotFoundError, UnprocessableError, ValidationError } from '../../errors';
import { messageContentSchema, variableValuesSchema } from '../../sending/content-schema';
import { enqueueExpansion } from '../../sending/kicks';
import { applyTaskAction } from '../../sending/task-control';
import { progressSnapshot } from '../../sending/task-events';
import { MAX_CONVERSATION_ID } from '../../sending/targets';
import { auditRequest } from '../audit';
import { requirePermission } from '../authenticate';
import { paginate, pageQuery, pageResponse } from '../pagination';
import { principalOf, tenantIdOf } from '../principal';
import { body, params, query } from '../validate';
import { documentRoute } from './route-docs';
import { isoDateTime } from '../fields';

const idParams = z.object({ id: z.string().uuid() });
const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM (24h)');

export const sendStrategySchema = z
  .object({
    rate_per_minute: z.number().int().min(0).max(6000).default(20).describe('per sending account; 0 = unthrottled'),
    jitter: z.number().min(0).max(1).default(0.2).describe('random stretch of each interval (fraction)'),
    window: z
      .object({ start: hhmm, end: hhmm, days: z.array(z.number().int().min(1).max(7)).max(7).optional() })
      .refine((w) => w.start !== w.end, { message: 'start and end must differ', path: ['end'] })
      .nullable()
      .optional()
      .describe("allowed sending hours in the tenant's time zone"),
    retry: z
      .object({
        max_attempts: z.number().int().min(1).max(10).default(3),
        backoff_ms: z.number().int().min(100).max(3_600_000).default(5_000),
        backoff: z.enum(['fixed', 'exponential']).default('exponential'),
      })
      .default({}),
    error_threshold: z.number().int().min(0).max(100_000).default(20).describe('consecutive send errors that pause the task; 0 = never'),
  })
  .default({});

export const targetSchema = z.object({
  conversation_id: z.string().min(1).max(MAX_CONVERSATION_ID),
  account_id: z.string().uuid().optional(),
  variables: variableValuesSchema.optional(),
});

export const audienceFilterSchema = z.object({
  conversation_type: z.enum(['private', 'group']).optional(),
  tags: z.array(z.string().min(1).max(50)).max(20).optional(),
  last_message_after: isoDateTime.optional(),
  last_message_before: isoDateTime.optional(),
});

export const taskBody = z
  .object({
    name: z.string().trim().min(1).max(100),
    account_ids: z.array(z.string().uuid()).min(1).max(100).optional(),
    account_id: z.string().uuid().optional(),
    template_id: z.string().uuid().optional(),
    content: messageContentSchema.optional(),
    variables: variableValuesSchema.optional().describe('values shared by every target (targets may override)'),
    target_type: z.enum(['manual', 'import', 'group', 'filter']),
    targets: z.array(targetSchema).max(10_000).optional().describe('manual targets'),
    file_id: z.string().uuid().optional().describe('import: CSV file from the files API'),
    filter: audienceFilterSchema.optional(),
    send_strategy: sendStrategySchema,
    priority: z.number().int().min(1).max(10).default(5),
    scheduled_time: isoDateTime.optional().describe('starts by itself at this time'),
  })
  .superRefine((b, c) => {
    if (!b.account_ids && !b.account_id) c.addIssue({ code: 'custom', path: ['account_ids'], message: 'account_ids (or account_id) is required' });
    if (!b.template_id === !b.content) c.addIssue({ code: 'custom', path: ['content'], message: 'give exactly one of template_id or content' });
    if (b.target_type === 'manual' && !b.targets?.length) c.addIssue({ code: 'custom', path: ['targets'], message: 'manual targets are required' });
    if (b.target_type === 'import' && !b.file_id) c.addIssue({ code: 'custom', path: ['file_id'], message: 'file_id is required for import' });
    if (b.target_type === 'filter' && !b.filter) c.addIssue({ code: 'custom', path: ['filter'], message: 'filter is required' });
  });

const listQuery = pageQuery.extend({
  status: z.enum(TASK_STATUSES).optional(),
  account_id: z.string().uuid().optional(),
  q: z.string().max(100).optional(),
});

const Counts = z.object({
  total: z.number(),
  sent: z.number(),
  success: z.number(),
  failed: z.number(),
  cancelled: z.number(),
  delivered: z.number(),
  capped: z.number().describe('skipped by the recipient frequency cap (status skipped, reason frequency_capped): ended, not failed'),
  risk_paused: z.number().describe("risk pauses of the task's accounts while it sent"),
  skipped: z.number().describe('targets dropped at expansion (repeated or malformed)'),
  pending: z.number(),
});
const ProgressOut = z
  .object({
    task_id: z.string(),
    status: z.enum(TASK_STATUSES),
    counts: Counts,
    percent: z.number(),
    rate: z.number(),
    eta_seconds: z.number().nullable(),
    waiting_for_staff_confirmation: z.number().openapi({ description: 'official channel: customer group-sends staff have not confirmed in the WeCom app yet' }),
    stage: z.enum(['sending', 'waiting_for_staff_confirmation', 'done']).openapi({ description: 'waiting_for_staff_confirmation: everything is sent and only staff confirmations are left' }),
  })
  .openapi('TaskProgress');

export const TaskOut = z
  .object({
    id: z.string(),
    name: z.string(),
    status: z.enum(TASK_STATUSES),
    account_ids: z.array(z.string()),
    template_id: z.string().nullable(),
    content: z.record(z.unknown()),
    target_type: z.enum(TARGET_TYPES),
    retry_of: z.string().nullable().openapi({ description: 'for a retry task: the task whose failed recipients it sends again' }),
    target_summary: z.record(z.unknown()),
    send_strategy: z.record(z.unknown()),
    priority: z.number(),
    scheduled_time: z.string().nullable(),
    total_count: z.number(),
    sent_count: z.number(),
    success_count: z.number(),
    failed_count: z.number(),
    unknown_count: z.number().openapi({ description: 'sends in doubt: the gateway could not tell whether they went out and did not repeat them' }),
    cancelled_count: z.number(),
    delivered_count: z.number(),
    skipped_count: z.number().openapi({ description: 'targets dropped at expansion (repeated or malformed)' }),
    capped_count: z.number().openapi({ description: 'messages skipped by the recipient frequency cap (status skipped, error_code frequency_capped); not failures' }),
    risk_paused_count: z.number().openapi({ description: "risk pauses of the task's accounts while it sent" }),
    progress_percent: z.number(),
    estimated_duration: z.number().nullable(),
    start_time: z.string().nullable(),
    end_time: z.string().nullable(),
    error_message: z.string().nullable(),
    expansion_done: z.boolean(),
    target_errors: z.array(z.object({ line: z.number().optional(), index: z.number().optional(), error: z.string() })),
    creator_id: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Task');

export function presentTask(t: TaskRow) {
  const cfg = t.target_config as Record<string, unknown>;
  const summary: Record<string, unknown> =
    t.target_type === 'manual'
      ? { targets: (cfg.targets as unknown[] | undefined)?.length ?? 0 }
      : t.target_type === 'import'
        ? { file_id: cfg.file_id }
        : t.target_type === 'retry'
          ? { retry_of: t.retry_of }
          : { filter: cfg };
  return {
    id: t.id,
    name: t.task_name,
    status: t.status,
    account_ids: t.account_ids,
    template_id: t.template_id,
    content: t.message_content.content,
    target_type: t.target_type,
    retry_of: t.retry_of ?? null,
    target_summary: summary,
    send_strategy: t.send_strategy,
    priority: t.priority,
    scheduled_time: t.scheduled_time,
    total_count: t.total_count,
    sent_count: t.sent_count,
    success_count: t.success_count,
    failed_count: t.failed_count,
    unknown_count: t.unknown_count,
    cancelled_count: t.cancelled_count,
    delivered_count: t.delivered_count,
    skipped_count: t.skipped_count,
    capped_count: t.capped_count,
    risk_paused_count: t.risk_paused_count,
    progress_percent: t.progress_percent,
    estimated_duration: t.estimated_duration,
    start_time: t.start_time,
    end_time: t.end_time,
    error_message: t.error_message,
    expansion_done: t.expansion_done,
    target_errors: t.target_errors,
    creator_id: t.creator_id,
    created_at: t.created_at,
    updated_at: t.updated_at,
  };
}

const T = 'tasks';
documentRoute({ method: 'post', path: '/api/v1/tasks', tag: T, summary: 'Create a batch send task', permission: 'tasks:write', body: taskBody, response: TaskOut, status: 201, errors: [400, 401, 403, 404, 422] });
documentRoute({ method: 'get', path: '/api/v1/tasks', tag: T, summary: 'List tasks', permission: 'tasks:read', query: listQuery, response: pageResponse(TaskOut) });
documentRoute({ method: 'get', path: '/api/v1/tasks/{id}', tag: T, summary: 'Get a task', permission: 'tasks:read', params: idParams, response: TaskOut });
documentRoute({ method: 'get', path: '/api/v1/tasks/{id}/progress', tag: T, summary: 'Progress snapshot (same as the task.progress event)', permission: 'tasks:read', params: idParams, response: ProgressOut });
for (const action of ['start', 'pause', 'resume', 'cancel'] as const) {
  documentRoute({ method: 'post', path: `/api/v1/tasks/{id}/${action}`, tag: T, summary: `${action[0].toUpperCase()}${action.slice(1)} a task (409 when illegal in its state)`, permission: 'tasks:control', params: idParams, response: TaskOut, errors: [401, 403, 404, 409] });
}

export function tasksRouter(ctx: AppContext): Router {
  const router = Router();
  const db = ctx.db;

  router.post('/tasks', requirePermission('tasks:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const b = body(req, taskBody);
    const { accountIds, content, definitions, targetConfig } = await resolveTaskInput(db, tenantId, b);
    const id = newId();
    await db.transaction(async (trx) => {
      await insertTask(trx, {
        id,
        tenant_id: tenantId,
        creator_id: principalOf(req).id,
        task_name: b.name,
        account_id: accountIds[0],
        account_ids: accountIds,
        template_id: b.template_id ?? null,
        message_content: { content, variables: b.variables ?? {}, definitions },
        target_type: b.target_type,
        target_config: targetConfig as Record<string, unknown>,
        send_strategy: b.send_strategy as SendStrategy,
        priority: b.priority,
        scheduled_time: b.scheduled_time ? new Date(b.scheduled_time) : null,
      });
      if (b.template_id) await markTemplateUsed(trx, tenantId, b.template_id);
      await auditRequest(trx, req, 'task.create', { type: 'task', id }, { name: b.name, target_type: b.target_type, accounts: accountIds.length });
    });
    // Scheduled tasks start by themselves (the sweeper checks too, in case this delayed job is lost).
    if (b.scheduled_time) await enqueueStartAt(ctx, id, new Date(b.scheduled_time));
    res.status(201).json(presentTask((await findTask(db, tenantId, id))!));
  });

  router.get('/tasks', requirePermission('tasks:read'), async (req, res) => {
    const q = query(req, listQuery);
    // The list reads the replica; GET /tasks/:id and /progress read the primary (live numbers).
    const reader = ctx.readDb();
    const page = await paginate<Record<string, unknown> & { created_at: Date; id: string }>(taskListQuery(reader, tenantIdOf(req), q), q);
    res.json({ data: (await decodeTasks(reader, page.data)).map(presentTask), next_cursor: page.next_cursor });
  });

  router.get('/tasks/:id', requirePermission('tasks:read'), async (req, res) => {
    const { id } = params(req, idParams);
    const t = await findTask(db, tenantIdOf(req), id);
    if (!t) throw new NotFoundError('task', id);
    res.json(presentTask(t));
  });

  router.get('/tasks/:id/progress', requirePermission('tasks:read'), async (req, res) => {
    const { id } = params(req, idParams);
    const t = await findTask(db, tenantIdOf(req), id);
    if (!t) throw new NotFoundError('task', id);
    const snap = await progressSnapshot(ctx, id, { task: t });
    const { tenant_id: _tenant, ...payload } = snap!;
    res.json(payload);
  });

  for (const action of ['start', 'pause', 'resume', 'cancel'] as const) {
    router.post(`/tasks/:id/${action}`, requirePermission('tasks:control'), async (req, res) => {
      const { id } = params(req, idParams);
      const task = await applyTaskAction(ctx, tenantIdOf(req), id, action, (trx, from) => auditRequest(trx, req, `task.${action}`, { type: 'task', id }, { from }));
      res.json(presentTask(task));
    });
  }
  return router;
}

export type TaskBody = z.infer<typeof taskBody>;

export interface ResolvedTaskInput {
  accountIds: string[];
  content: Record<string, unknown>;
  definitions: VariableDefinition[];
  targetConfig: Record<string, unknown>;
}

/**
 * What a create body means once checked against the tenant's rows: its accounts (all the tenant's), the
 * content (inline or the active template's), manual targets' variables and accounts, the import file.
 * Shared by create and dry run, so a dry run refuses exactly what create would.
 */
export async function resolveTaskInput(db: Knex, tenantId: string, b: TaskBody): Promise<ResolvedTaskInput> {
  const accountIds = [...new Set(b.account_ids ?? [b.account_id!])];
  const known: string[] = await db('wework_accounts').where({ tenant_id: tenantId }).whereIn('id', accountIds).pluck('id');
  const unknown = accountIds.filter((id) => !known.includes(id));
  if (unknown.length) throw new UnprocessableError('unknown_accounts', `accounts not found: ${unknown.join(', ')}`, { account_ids: unknown });

  let content: Record<string, unknown>;
  let definitions: VariableDefinition[] = [];
  if (b.template_id) {
    const t = await findTemplate(db, tenantId, b.template_id);
    if (!t) throw new NotFoundError('template', b.template_id);
    if (!t.is_active) throw new UnprocessableError('template_inactive', 'the template is not active', { template_id: t.id });
    content = t.template_content;
    definitions = t.variables;
  } else {
    content = b.content!;
  }
  // Manual targets are all known now: refuse the task rather than skip targets later.
  if (b.target_type === 'manual') {
    const problems: Array<{ index: number; missing: string[] }> = [];
    // The content is scanned once; each target costs a lookup per needed name (bounded by MAX_PLACEHOLDERS).
    const template = compileTemplate(content, definitions);
    const shared = b.variables ?? {};
    b.targets!.forEach((target, index) => {
      if (problems.length < 20 && template.needed.length) {
        const missing = template.missing(shared, target.variables ?? {});
        if (missing.length) problems.push({ index, missing });
      }
      if (target.account_id && !accountIds.includes(target.account_id)) {
        throw new ValidationError([{ field: `body.targets.${index}.account_id`, message: 'not one of account_ids' }]);
      }
    });
    if (problems.length) throw new UnprocessableError('missing_variables', 'some targets lack required template variables', { targets: problems });
  }
  if (b.target_type === 'import') {
    const file = await db('files').where({ id: b.file_id, tenant_id: tenantId }).whereNull('deleted_at').first();
    if (!file) throw new NotFoundError('file', b.file_id);
  }
  const targetConfig =
    b.target_type === 'manual' ? { targets: b.targets } : b.target_type === 'import' ? { file_id: b.file_id } : b.target_type === 'filter' ? b.filter! : {};
  return { accountIds, content, definitions, targetConfig: targetConfig as Record<string, unknown> };
}

/** A delayed expansion job at the scheduled time; the expander starts a created task whose time has come. */
async function enqueueStartAt(ctx: AppContext, taskId: string, at: Date): Promise<void> {
  await enqueueExpansion(ctx, taskId, Math.max(0, at.getTime() - Date.now()));
}
