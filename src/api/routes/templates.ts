import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import {
  decodeTemplate,
  deleteTemplate,
  findTemplate,
  insertTemplate,
  isDuplicateKey,
  templateListQuery,
  updateTemplate,
  type TemplateRow,
} from '../../db/templates';
import { definitionProblems, renderContent, undeclaredPlaceholders, type VariableDefinition } from '../../domain/template-render';
import { ConflictError, NotFoundError, UnprocessableError, ValidationError } from '../../errors';
import { messageContentSchema, variableDefinitionSchema, variableValuesSchema } from '../../sending/content-schema';
import { auditRequest } from '../audit';
import { requirePermission } from '../authenticate';
import { paginate, pageQuery, pageResponse } from '../pagination';
import { principalOf, tenantIdOf } from '../principal';
import { body, params, query } from '../validate';
import { documentRoute } from './route-docs';

const idParams = z.object({ id: z.string().uuid() });
/** A boolean in a query string. */
const queryBool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const templateBody = z.object({
  name: z.string().trim().min(1).max(100),
  category: z.string().max(50).nullable().optional(),
  description: z.string().max(500).nullable().optional(),
  content: messageContentSchema,
  variables: z.array(variableDefinitionSchema).max(100).default([]),
  preview_data: variableValuesSchema.nullable().optional(),
  tags: z.array(z.string().min(1).max(50)).max(50).default([]),
  is_public: z.boolean().default(false),
  is_active: z.boolean().default(true),
});
const templatePatch = templateBody.partial().extend({ variables: z.array(variableDefinitionSchema).max(100).optional(), tags: z.array(z.string().min(1).max(50)).max(50).optional() });

const listQuery = pageQuery.extend({
  type: z.enum(['text', 'image', 'file', 'link', 'miniprogram', 'at', 'markdown']).optional(),
  category: z.string().max(50).optional(),
  tag: z.string().max(50).optional(),
  is_active: queryBool.optional(),
  is_public: queryBool.optional(),
  q: z.string().max(100).optional().openapi({ description: 'part of the name (case-insensitive; % and _ match themselves)', example: 'welcome' }),
});

const previewBody = z.object({ variables: variableValuesSchema.optional() });

const TemplateOut = z
  .object({
    id: z.string(),
    name: z.string(),
    type: z.string(),
    category: z.string().nullable(),
    description: z.string().nullable(),
    content: z.record(z.unknown()),
    variables: z.array(variableDefinitionSchema),
    preview_data: z.record(z.unknown()).nullable(),
    tags: z.array(z.string()),
    is_public: z.boolean(),
    is_active: z.boolean(),
    usage_count: z.number().int(),
    last_used_time: z.string().nullable(),
    creator_id: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Template');

const PreviewOut = z.object({
  content: z.record(z.unknown()),
  unknown_placeholders: z.array(z.string()),
  unused_variables: z.array(z.string()),
});

export function presentTemplate(t: TemplateRow) {
  return {
    id: t.id,
    name: t.template_name,
    type: t.template_type,
    category: t.category,
    description: t.description,
    content: t.template_content,
    variables: t.variables,
    preview_data: t.preview_data,
    tags: t.tags,
    is_public: t.is_public,
    is_active: t.is_active,
    usage_count: t.usage_count,
    last_used_time: t.last_used_time,
    creator_id: t.creator_id,
    created_at: t.created_at,
    updated_at: t.updated_at,
  };
}

/** Variables must be well-formed and every placeholder of the content declared. */
function checkDefinitions(content: unknown, variables: VariableDefinition[]): void {
  const problems = definitionProblems(variables);
  if (problems.length) throw new ValidationError(problems.map((message) => ({ field: 'body.variables', message })));
  const unknown = undeclaredPlaceholders(content, variables);
  if (unknown.length) {
    throw new UnprocessableError('unknown_placeholders', `placeholders not declared in variables: ${unknown.join(', ')}`, { unknown_placeholders: unknown });
  }
}

const T = 'templates';
documentRoute({ method: 'post', path: '/api/v1/templates', tag: T, summary: 'Create a template', permission: 'templates:write', body: templateBody, response: TemplateOut, status: 201, errors: [400, 401, 403, 409, 422] });
documentRoute({ method: 'get', path: '/api/v1/templates', tag: T, summary: 'List templates', permission: 'templates:read', query: listQuery, response: pageResponse(TemplateOut) });
documentRoute({ method: 'get', path: '/api/v1/templates/{id}', tag: T, summary: 'Get a template', permission: 'templates:read', params: idParams, response: TemplateOut });
documentRoute({ method: 'patch', path: '/api/v1/templates/{id}', tag: T, summary: 'Update a template', permission: 'templates:write', params: idParams, body: templatePatch, response: TemplateOut, errors: [400, 401, 403, 404, 409, 422] });
documentRoute({ method: 'delete', path: '/api/v1/templates/{id}', tag: T, summary: 'Delete a template', permission: 'templates:write', params: idParams });
documentRoute({ method: 'post', path: '/api/v1/templates/{id}/preview', tag: T, summary: 'Render with the given variables, else the preview data', permission: 'templates:read', params: idParams, body: previewBody, response: PreviewOut, errors: [400, 401, 403, 404, 422] });

export function templatesRouter(ctx: AppContext): Router {
  const router = Router();
  const db = ctx.db;

  router.post('/templates', requirePermission('templates:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const b = body(req, templateBody);
    checkDefinitions(b.content, b.variables);
    try {
      const id = await db.transaction(async (trx) => {
        const newId = await insertTemplate(trx, tenantId, principalOf(req).id, {
          template_name: b.name,
          template_type: b.content.type,
          category: b.category ?? null,
          description: b.description ?? null,
          template_content: b.content,
          variables: b.variables,
          preview_data: b.preview_data ?? null,
          tags: b.tags,
          is_public: b.is_public,
          is_active: b.is_active,
        });
        await auditRequest(trx, req, 'template.create', { type: 'template', id: newId }, { name: b.name });
        return newId;
      });
      res.status(201).json(presentTemplate((await findTemplate(db, tenantId, id))!));
    } catch (err) {
      if (isDuplicateKey(err)) throw new ConflictError(`a template named "${b.name}" already exists`, 'template_name_taken', { field: 'name' });
      throw err;
    }
  });

  router.get('/templates', requirePermission('templates:read'), async (req, res) => {
    const q = query(req, listQuery);
    const page = await paginate<Record<string, unknown> & { created_at: Date; id: string }>(templateListQuery(ctx.readDb(), tenantIdOf(req), q), q);
    res.json({ data: page.data.map((r) => presentTemplate(decodeTemplate(r))), next_cursor: page.next_cursor });
  });

  router.get('/templates/:id', requirePermission('templates:read'), async (req, res) => {
    const { id } = params(req, idParams);
    const t = await findTemplate(db, tenantIdOf(req), id);
    if (!t) throw new NotFoundError('template', id);
    res.json(presentTemplate(t));
  });

  router.patch('/templates/:id', requirePermission('templates:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, idParams);
    const b = body(req, templatePatch);
    const current = await findTemplate(db, tenantId, id);
    if (!current) throw new NotFoundError('template', id);
    const content = b.content ?? current.template_content;
    const variables = b.variables ?? current.variables;
    checkDefinitions(content, variables);
    try {
      await db.transaction(async (trx) => {
        await updateTemplate(trx, tenantId, id, {
          template_name: b.name,
          template_type: b.content?.type,
          category: b.category,
          description: b.description,
          template_content: b.content,
          variables: b.variables,
          preview_data: b.preview_data,
          tags: b.tags,
          is_public: b.is_public,
          is_active: b.is_active,
        });
        await auditRequest(trx, req, 'template.update', { type: 'template', id }, { fields: Object.keys(b) });
      });
    } catch (err) {
      if (isDuplicateKey(err)) throw new ConflictError(`a template named "${b.name}" already exists`, 'template_name_taken', { field: 'name' });
      throw err;
    }
    res.json(presentTemplate((await findTemplate(db, tenantId, id))!));
  });

  router.delete('/templates/:id', requirePermission('templates:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, idParams);
    await db.transaction(async (trx) => {
      if (!(await deleteTemplate(trx, tenantId, id))) throw new NotFoundError('template', id);
      await auditRequest(trx, req, 'template.delete', { type: 'template', id });
    });
    res.status(204).end();
  });

  router.post('/templates/:id/preview', requirePermission('templates:read'), async (req, res) => {
    const { id } = params(req, idParams);
    const b = body(req, previewBody);
    const t = await findTemplate(db, tenantIdOf(req), id);
    if (!t) throw new NotFoundError('template', id);
    const r = renderContent(t.template_content, t.variables, b.variables ?? (t.preview_data as Record<string, string>) ?? {});
    res.json({ content: r.content, unknown_placeholders: r.unknownPlaceholders, unused_variables: r.unusedValues });
  });

  return router;
}
