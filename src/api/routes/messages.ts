import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { newId } from '../../db/ids';
import { decodeMessage, findMessage, insertMessagesIgnore, listMessages, MESSAGE_STATUSES, type MessageRow } from '../../db/messages';
import { findTemplate, markTemplateUsed } from '../../db/templates';
import { renderContent } from '../../domain/template-render';
import { NotFoundError, UnprocessableError } from '../../errors';
import { messageContentSchema, variableValuesSchema } from '../../sending/content-schema';
import { kickAccounts } from '../../sending/kicks';
import { MAX_CONVERSATION_ID } from '../../sending/targets';
import { auditRequest } from '../audit';
import { requirePermission } from '../authenticate';
import { pageQuery, pageResponse } from '../pagination';
import { tenantIdOf } from '../principal';
import { body, params, query } from '../validate';
import { documentRoute } from './route-docs';
import { isoDateTime } from '../fields';

const STATUSES = MESSAGE_STATUSES;
const idParams = z.object({ id: z.string().uuid() });

const sendBody = z
  .object({
    account_id: z.string().uuid(),
    conversation_id: z.string().min(1).max(MAX_CONVERSATION_ID),
    content: messageContentSchema.optional(),
    template_id: z.string().uuid().optional(),
    variables: variableValuesSchema.optional(),
    priority: z.number().int().min(1).max(10).default(5),
    scheduled_time: isoDateTime.optional(),
  })
  .superRefine((b, c) => {
    if (!b.template_id === !b.content) c.addIssue({ code: 'custom', path: ['content'], message: 'give exactly one of template_id or content' });
  });

const listQuery = pageQuery.extend({
  task_id: z.string().uuid().optional(),
  status: z.enum(STATUSES).optional(),
  account_id: z.string().uuid().optional(),
  conversation_id: z.string().max(MAX_CONVERSATION_ID).optional(),
  from: isoDateTime.optional().describe('created at or after'),
  to: isoDateTime.optional().describe('created before'),
});

const MessageOut = z
  .object({
    id: z.string(),
    account_id: z.string(),
    conversation_id: z.string(),
    type: z.string(),
    content: z.record(z.unknown()),
    template_id: z.string().nullable(),
    task_id: z.string().nullable(),
    status: z.enum(STATUSES),
    wework_msg_id: z.string().nullable(),
    send_time: z.string().nullable(),
    callback_time: z.string().nullable(),
    error_code: z.string().nullable(),
    error_message: z.string().nullable(),
    retry_count: z.number(),
    priority: z.number(),
    scheduled_time: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Message');

export function presentMessage(m: MessageRow) {
  return {
    id: m.id,
    account_id: m.account_id,
    conversation_id: m.conversation_id,
    type: m.message_type,
    content: m.content,
    template_id: m.template_id,
    task_id: m.batch_id,
    status: m.status,
    wework_msg_id: m.wework_msg_id,
    send_time: m.send_time,
    callback_time: m.callback_time,
    error_code: m.error_code,
    error_message: m.error_message,
    retry_count: m.retry_count,
    priority: m.priority,
    scheduled_time: m.scheduled_time,
    created_at: m.created_at,
    updated_at: m.updated_at,
  };
}

const M = 'messages';
documentRoute({ method: 'post', path: '/api/v1/messages', tag: M, summary: 'Send one message (queued through the same pipeline as tasks)', permission: 'messages:send', body: sendBody, response: MessageOut, status: 202, errors: [400, 401, 403, 404, 422] });
documentRoute({ method: 'get', path: '/api/v1/messages', tag: M, summary: 'List messages', permission: 'messages:read', query: listQuery, response: pageResponse(MessageOut) });
documentRoute({ method: 'get', path: '/api/v1/messages/{id}', tag: M, summary: 'Get a message', permission: 'messages:read', params: idParams, response: MessageOut });

export function messagesRouter(ctx: AppContext): Router {
  const router = Router();
  const db = ctx.db;

  router.post('/messages', requirePermission('messages:send'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const b = body(req, sendBody);
    const account = await db('wework_accounts').select('id').where({ tenant_id: tenantId, id: b.account_id }).first();
    if (!account) throw new UnprocessableError('unknown_accounts', `account ${b.account_id} not found`, { account_ids: [b.account_id] });
    let content: Record<string, unknown> = b.content ?? {};
    if (b.template_id) {
      const t = await findTemplate(db, tenantId, b.template_id);
      if (!t) throw new NotFoundError('template', b.template_id);
      if (!t.is_active) throw new UnprocessableError('template_inactive', 'the template is not active', { template_id: t.id });
      content = renderContent(t.template_content, t.variables, b.variables ?? {}).content;
    } else if (b.variables) {
      content = renderContent(content, [], b.variables).content;
    }
    const id = newId();
    const scheduled = b.scheduled_time ? new Date(b.scheduled_time) : null;
    await db.transaction(async (trx) => {
      await insertMessagesIgnore(trx, [
        {
          id,
          tenant_id: tenantId,
          account_id: b.account_id,
          conversation_id: b.conversation_id,
          message_type: String(content.type),
          content: JSON.stringify(content),
          template_id: b.template_id ?? null,
          batch_id: null,
          priority: b.priority,
          scheduled_time: scheduled,
          created_at: new Date(),
        },
      ]);
      if (b.template_id) await markTemplateUsed(trx, tenantId, b.template_id);
      await auditRequest(trx, req, 'message.send', { type: 'message', id }, { account_id: b.account_id, conversation_id: b.conversation_id });
    });
    await kickAccounts(ctx, [b.account_id], scheduled ? Math.max(0, scheduled.getTime() - Date.now()) : 0);
    res.status(202).json(presentMessage((await findMessage(db, tenantId, id))!));
  });

  router.get('/messages', requirePermission('messages:read'), async (req, res) => {
    const q = query(req, listQuery);
    const filters = { ...q, from: q.from ? new Date(q.from) : undefined, to: q.to ? new Date(q.to) : undefined };
    const page = await listMessages(ctx.readDb(), tenantIdOf(req), filters, q);
    res.json({ data: page.data.map((r) => presentMessage(decodeMessage(r))), next_cursor: page.next_cursor });
  });

  router.get('/messages/:id', requirePermission('messages:read'), async (req, res) => {
    const { id } = params(req, idParams);
    const m = await findMessage(db, tenantIdOf(req), id);
    if (!m) throw new NotFoundError('message', id);
    res.json(presentMessage(m));
  });
  return router;
}
