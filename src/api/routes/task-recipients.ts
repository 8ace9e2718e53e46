import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { newId } from '../../db/ids';
import { decodeMessage, listMessages, MESSAGE_STATUSES, type MessageRow } from '../../db/messages';
import { decodeTask, findTask, insertTask } from '../../db/tasks';
import { ConflictError, NotFoundError, UnprocessableError } from '../../errors';
import { previewAudience } from '../../sending/audience';
import { retryableFailures } from '../../sending/targets';
import { applyTaskAction } from '../../sending/task-control';
import { auditRequest } from '../audit';
import { requirePermission } from '../authenticate';
import { pageQuery, pageResponse } from '../pagination';
import { principalOf, tenantIdOf } from '../principal';
import { body, params, query } from '../validate';
import { documentRoute } from './route-docs';
import { audienceFilterSchema, presentTask, targetSchema, TaskOut } from './tasks';

/**
 * What an operator needs around a campaign beyond its lifecycle: who it reaches before it exists
 * (audience preview), what happened to each recipient and why (recipients, summary of reasons), and a
 * second chance for the failed ones (retry-failed, a task of its own reading the failures).
 */
const idParams = z.object({ id: z.string().uuid() });

const recipientsQuery = pageQuery.extend({ status: z.enum(MESSAGE_STATUSES).optional() });

const Recipient = z
  .object({
    id: z.string(),
    account_id: z.string(),
    conversation_id: z.string(),
    status: z.enum(MESSAGE_STATUSES),
    error_code: z.string().nullable(),
    error_message: z.string().nullable(),
    retry_count: z.number(),
    send_time: z.string().nullable(),
    callback_time: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('TaskRecipient');

const RecipientSummary = z
  .object({
    task_id: z.string(),
    by_status: z.record(z.enum(MESSAGE_STATUSES), z.number()),
    reasons: z
      .array(z.object({ status: z.enum(MESSAGE_STATUSES), error_code: z.string().nullable(), count: z.number(), example_message: z.string().nullable() }))
      .describe('failed, unknown and skipped (frequency-capped) recipients grouped by error code, most frequent first (top 20)'),
  })
  .openapi('TaskRecipientSummary');

const AudienceBody = z
  .object({
    target_type: z.enum(['manual', 'import', 'group', 'filter']),
    account_ids: z.array(z.string().uuid()).min(1).max(100),
    targets: z.array(targetSchema).max(10_000).optional(),
    file_id: z.string().uuid().optional(),
    filter: audienceFilterSchema.optional(),
  })
  .superRefine((b, c) => {
    if (b.target_type === 'manual' && !b.targets?.length) c.addIssue({ code: 'custom', path: ['targets'], message: 'manual targets are required' });
    if (b.target_type === 'import' && !b.file_id) c.addIssue({ code: 'custom', path: ['file_id'], message: 'file_id is required for import' });
  });

const AudienceOut = z
  .object({
    target_type: z.enum(['manual', 'import', 'group', 'filter']),
    count: z.number().describe('distinct recipients the task would send to'),
    duplicates: z.number(),
    problem_count: z.number(),
    problems: z.array(z.object({ line: z.number().optional(), index: z.number().optional(), error: z.string() })).describe('the first 50 problems'),
    sample: z.array(z.string()),
  })
  .openapi('AudiencePreview');

const RetryBody = z.object({
  start: z.boolean().default(true).describe('start the retry task at once'),
  include_permanent: z
    .boolean()
    .default(false)
    .describe('also retry permanent failures (target_not_found, not_friend, content_rejected, …), which a retry usually meets again'),
  name: z.string().trim().min(1).max(100).optional(),
});

const T = 'tasks';
documentRoute({ method: 'get', path: '/api/v1/tasks/{id}/recipients', tag: T, summary: "The task's recipients with their outcome and reason, newest first (keyset pages; status filter)", permission: 'tasks:read', params: idParams, query: recipientsQuery, response: pageResponse(Recipient) });
documentRoute({ method: 'get', path: '/api/v1/tasks/{id}/recipients/summary', tag: T, summary: 'Recipients by status and the reasons of failures', permission: 'tasks:read', params: idParams, response: RecipientSummary });
documentRoute({ method: 'post', path: '/api/v1/tasks/audience', tag: T, summary: 'Count the recipients a task would have (and report bad CSV rows) before creating it', permission: 'tasks:write', body: AudienceBody, response: AudienceOut, errors: [400, 401, 403, 404, 422] });
documentRoute({ method: 'post', path: '/api/v1/tasks/{id}/retry-failed', tag: T, summary: "A new task sending the finished task's failed recipients again (same accounts, content, strategy; permanent failures only when asked), linked by retry_of; one retry per task", permission: 'tasks:write', params: idParams, body: RetryBody, response: TaskOut, status: 201, errors: [400, 401, 403, 404, 409, 422] });

const FINISHED = ['completed', 'failed', 'cancelled'];

function presentRecipient(m: MessageRow) {
  return {
    id: m.id,
    account_id: m.account_id,
    conversation_id: m.conversation_id,
    status: m.status,
    error_code: m.error_code,
    error_message: m.error_message,
    retry_count: m.retry_count,
    send_time: m.send_time,
    callback_time: m.callback_time,
    created_at: m.created_at,
    updated_at: m.updated_at,
  };
}

export function taskRecipientsRouter(ctx: AppContext): Router {
  const router = Router();
  const db = ctx.db;

  const ownTask = async (tenantId: string, id: string) => {
    const t = await findTask(db, tenantId, id);
    if (!t) throw new NotFoundError('task', id);
    return t;
  };

  router.post('/tasks/audience', requirePermission('tasks:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const b = body(req, AudienceBody);
    const accountIds = [...new Set(b.account_ids)];
    const known: string[] = await db('wework_accounts').where({ tenant_id: tenantId }).whereIn('id', accountIds).pluck('id');
    const unknown = accountIds.filter((id) => !known.includes(id));
    if (unknown.length) throw new UnprocessableError('unknown_accounts', `accounts not found: ${unknown.join(', ')}`, { account_ids: unknown });
    res.json(await previewAudience(ctx, tenantId, { ...b, account_ids: accountIds }));
  });

  router.get('/tasks/:id/recipients', requirePermission('tasks:read'), async (req, res) => {
    const { id } = params(req, idParams);
    const q = query(req, recipientsQuery);
    const tenantId = tenantIdOf(req);
    await ownTask(tenantId, id);
    // Ownership on the primary, the per-recipient pages on the replica.
    const page = await listMessages(ctx.readDb(), tenantId, { task_id: id, status: q.status }, q);
    res.json({ data: page.data.map((r) => presentRecipient(decodeMessage(r))), next_cursor: page.next_cursor });
  });

  router.get('/tasks/:id/recipients/summary', requirePermission('tasks:read'), async (req, res) => {
    const { id } = params(req, idParams);
    const tenantId = tenantIdOf(req);
    await ownTask(tenantId, id);
    const reader = ctx.readDb();
    const counts: Array<{ status: string; n: number }> = await reader('messages').select('status').count({ n: '*' }).where({ tenant_id: tenantId, batch_id: id }).groupBy('status');
    const by_status = Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, Number(counts.find((c) => c.status === s)?.n ?? 0)]));
    const reasons = (await reader('messages')
      .select('status', 'error_code')
      .count({ n: '*' })
      .max({ example: 'error_message' })
      .where({ tenant_id: tenantId, batch_id: id })
      .whereIn('status', ['failed', 'unknown', 'skipped'])
      .groupBy('status', 'error_code')
      .orderBy('n', 'desc')
      .limit(20)) as unknown as Array<{ status: string; error_code: string | null; n: number; example: string | null }>;
    res.json({
      task_id: id,
      by_status,
      reasons: reasons.map((r) => ({ status: r.status, error_code: r.error_code, count: Number(r.n), example_message: r.example })),
    });
  });

  router.post('/tasks/:id/retry-failed', requirePermission('tasks:write'), async (req, res) => {
    const { id } = params(req, idParams);
    const b = body(req, RetryBody);
    const tenantId = tenantIdOf(req);
    const retryId = newId();
    await db.transaction(async (trx) => {
      // The original's row lock serialises concurrent retries of it: exactly one wins.
      const row = await trx('batch_send_tasks').where({ tenant_id: tenantId, id }).forUpdate().first();
      if (!row) throw new NotFoundError('task', id);
      const original = decodeTask(row);
      if (!FINISHED.includes(original.status)) throw new ConflictError(`only a finished task can be retried (it is ${original.status})`, 'task_not_finished', { status: original.status });
      const earlier = await trx('batch_send_tasks').select('id').where({ tenant_id: tenantId, retry_of: id }).first();
      if (earlier) throw new ConflictError('this task was retried already: retry the retry task instead', 'already_retried', { task_id: earlier.id });
      const failed = await trx('messages')
        .select('id')
        .where({ tenant_id: tenantId, batch_id: id, status: 'failed' })
        .modify((q) => retryableFailures(q, b.include_permanent))
        .first();
      if (!failed) {
        const message = b.include_permanent ? 'the task has no failed recipients' : 'the task has no failed recipients worth retrying (only permanent failures: ask with include_permanent)';
        throw new UnprocessableError('nothing_to_retry', message, { task_id: id, include_permanent: b.include_permanent });
      }
      await insertTask(trx, {
        id: retryId,
        tenant_id: tenantId,
        creator_id: principalOf(req).id,
        task_name: b.name ?? `${original.task_name.slice(0, 92)} (retry)`,
        account_id: original.account_id,
        account_ids: original.account_ids,
        template_id: original.template_id,
        message_content: original.message_content,
        target_type: 'retry',
        target_config: { include_permanent: b.include_permanent },
        retry_of: id,
        send_strategy: original.send_strategy,
        priority: original.priority,
        scheduled_time: null,
      });
      await auditRequest(trx, req, 'task.retry_failed', { type: 'task', id: retryId }, { retry_of: id, include_permanent: b.include_permanent });
    });
    const task = b.start ? await applyTaskAction(ctx, tenantId, retryId, 'start', (trx, from) => auditRequest(trx, req, 'task.start', { type: 'task', id: retryId }, { from })) : await ownTask(tenantId, retryId);
    res.status(201).json(presentTask(task));
  });
  return router;
}
