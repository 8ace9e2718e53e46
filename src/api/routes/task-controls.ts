import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { newId } from '../../db/ids';
import { findTask, insertTask } from '../../db/tasks';
import { NotFoundError, UnprocessableError } from '../../errors';
import { dryRun, type DryRunInput } from '../../sending/dry-run';
import { applyTaskAction } from '../../sending/task-control';
import { auditRequest } from '../audit';
import { requirePermission } from '../authenticate';
import { principalOf, tenantIdOf } from '../principal';
import { body, params } from '../validate';
import { documentRoute } from './route-docs';
import { presentTask, resolveTaskInput, taskBody, TaskOut } from './tasks';
import type { VariableDefinition, VariableValues } from '../../domain/template-render';

/**
 * Campaign controls around a task's creation: a clone of an existing task (same audience, content and
 * strategy, as a new draft), and a dry run (audience count and rendered samples, nothing written),
 * either of a create body or of an existing task.
 */
const idParams = z.object({ id: z.string().uuid() });

const CloneBody = z
  .object({
    name: z.string().trim().min(1).max(100).optional().describe('default: the original name with " (copy)"'),
    start: z.boolean().default(false).describe('start the clone at once (default: a draft in status created)'),
  })
  .strict();

const Problem = z.object({ line: z.number().optional(), index: z.number().optional(), error: z.string() });
const DryRunOut = z
  .object({
    audience: z.object({
      target_type: z.enum(['manual', 'import', 'group', 'filter', 'retry']),
      count: z.number().describe('recipients the task would send to'),
      duplicates: z.number(),
      problem_count: z.number(),
      problems: z.array(Problem).describe('the first 50 problems'),
      sample: z.array(z.string()),
    }),
    samples: z
      .array(z.object({ conversation_id: z.string(), account_id: z.string(), content: z.record(z.unknown()).nullable(), error: z.string().nullable() }))
      .describe('the first messages as they would be rendered, with their sending account'),
  })
  .openapi('TaskDryRun');

const T = 'tasks';
documentRoute({ method: 'post', path: '/api/v1/tasks/{id}/clone', tag: T, summary: 'A new task with the same accounts, audience, content and strategy (a draft unless start)', permission: 'tasks:write', params: idParams, body: CloneBody, response: TaskOut, status: 201, errors: [400, 401, 403, 404, 422] });
documentRoute({ method: 'post', path: '/api/v1/tasks/dry-run', tag: T, summary: 'Dry run of a create body: the audience count and the first rendered messages; nothing is written', permission: 'tasks:write', body: taskBody, response: DryRunOut, errors: [400, 401, 403, 404, 422] });
documentRoute({ method: 'get', path: '/api/v1/tasks/{id}/preview', tag: T, summary: "Dry run of an existing task: its audience count and first rendered messages", permission: 'tasks:read', params: idParams, response: DryRunOut });

export function taskControlsRouter(ctx: AppContext): Router {
  const router = Router();
  const db = ctx.db;

  router.post('/tasks/dry-run', requirePermission('tasks:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const b = body(req, taskBody);
    const r = await resolveTaskInput(db, tenantId, b);
    const input: DryRunInput = {
      tenant_id: tenantId,
      target_type: b.target_type,
      account_ids: r.accountIds,
      targets: b.targets,
      file_id: b.file_id,
      filter: b.target_type === 'group' ? { conversation_type: 'group' } : b.filter,
      content: r.content,
      definitions: r.definitions,
      variables: (b.variables ?? {}) as VariableValues,
      target_config: r.targetConfig,
    };
    res.json(await dryRun(ctx, input));
  });

  router.get('/tasks/:id/preview', requirePermission('tasks:read'), async (req, res) => {
    const { id } = params(req, idParams);
    const t = await findTask(db, tenantIdOf(req), id);
    if (!t) throw new NotFoundError('task', id);
    const cfg = t.target_config as Record<string, unknown>;
    const input: DryRunInput = {
      tenant_id: t.tenant_id,
      target_type: t.target_type === 'group' ? 'group' : t.target_type,
      account_ids: t.account_ids,
      targets: cfg.targets as DryRunInput['targets'],
      file_id: cfg.file_id as string | undefined,
      filter: t.target_type === 'filter' ? cfg : undefined,
      content: t.message_content.content,
      definitions: (t.message_content.definitions ?? []) as VariableDefinition[],
      variables: (t.message_content.variables ?? {}) as VariableValues,
      retry_of: t.retry_of ?? null,
      target_config: cfg,
    };
    res.json(await dryRun(ctx, input));
  });

  router.post('/tasks/:id/clone', requirePermission('tasks:write'), async (req, res) => {
    const { id } = params(req, idParams);
    const b = body(req, CloneBody);
    const tenantId = tenantIdOf(req);
    const original = await findTask(db, tenantId, id);
    if (!original) throw new NotFoundError('task', id);
    if (original.target_type === 'retry') {
      throw new UnprocessableError('not_cloneable', 'a retry task reads the failures of its original: retry the original instead', { task_id: id, retry_of: original.retry_of });
    }
    // What the original relied on must still be there, or the clone would fail at expansion.
    const known: string[] = await db('wework_accounts').where({ tenant_id: tenantId }).whereIn('id', original.account_ids).pluck('id');
    const gone = original.account_ids.filter((a) => !known.includes(a));
    if (gone.length) throw new UnprocessableError('unknown_accounts', `accounts not found: ${gone.join(', ')}`, { account_ids: gone });
    const fileId = original.target_type === 'import' ? (original.target_config.file_id as string) : null;
    if (fileId && !(await db('files').where({ id: fileId, tenant_id: tenantId }).whereNull('deleted_at').first())) {
      throw new UnprocessableError('file_missing', 'the import file of the original task was deleted', { file_id: fileId });
    }
    const cloneId = newId();
    await db.transaction(async (trx) => {
      await insertTask(trx, {
        id: cloneId,
        tenant_id: tenantId,
        creator_id: principalOf(req).id,
        task_name: b.name ?? `${original.task_name.slice(0, 93)} (copy)`,
        account_id: original.account_id,
        account_ids: original.account_ids,
        template_id: original.template_id,
        message_content: original.message_content,
        target_type: original.target_type,
        target_config: original.target_config,
        retry_of: null,
        send_strategy: original.send_strategy,
        priority: original.priority,
        scheduled_time: null,
      });
      await auditRequest(trx, req, 'task.clone', { type: 'task', id: cloneId }, { cloned_from: id });
    });
    const task = b.start ? await applyTaskAction(ctx, tenantId, cloneId, 'start', (trx, from) => auditRequest(trx, req, 'task.start', { type: 'task', id: cloneId }, { from })) : (await findTask(db, tenantId, cloneId))!;
    res.status(201).json(presentTask(task));
  });
  return router;
}
