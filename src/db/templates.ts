import type { Knex } from 'knex';
import type { VariableDefinition } from '../domain/template-render';
import { newId } from './ids';
import { parseJson, toJson } from './json';

export interface TemplateRow {
  id: string;
  tenant_id: string;
  creator_id: string;
  template_name: string;
  template_type: string;
  category: string | null;
  description: string | null;
  template_content: Record<string, unknown>;
  variables: VariableDefinition[];
  preview_data: Record<string, unknown> | null;
  usage_count: number;
  last_used_time: Date | null;
  is_public: boolean;
  is_active: boolean;
  tags: string[];
  created_at: Date;
  updated_at: Date;
}

export function decodeTemplate(row: Record<string, unknown>): TemplateRow {
  return {
    ...(row as unknown as TemplateRow),
    template_content: parseJson(row.template_content, {}),
    variables: parseJson(row.variables, []),
    preview_data: parseJson(row.preview_data, null),
    tags: parseJson(row.tags, []),
    is_public: Boolean(row.is_public),
    is_active: Boolean(row.is_active),
  };
}

export interface TemplateFields {
  template_name: string;
  template_type: string;
  category?: string | null;
  description?: string | null;
  template_content: unknown;
  variables?: VariableDefinition[];
  preview_data?: Record<string, unknown> | null;
  tags?: string[];
  is_public?: boolean;
  is_active?: boolean;
}

function toRow(f: Partial<TemplateFields>): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  if (f.template_name !== undefined) row.template_name = f.template_name;
  if (f.template_type !== undefined) row.template_type = f.template_type;
  if (f.category !== undefined) row.category = f.category;
  if (f.description !== undefined) row.description = f.description;
  if (f.template_content !== undefined) row.template_content = toJson(f.template_content);
  if (f.variables !== undefined) row.variables = toJson(f.variables);
  if (f.preview_data !== undefined) row.preview_data = toJson(f.preview_data);
  if (f.tags !== undefined) row.tags = toJson(f.tags);
  if (f.is_public !== undefined) row.is_public = f.is_public ? 1 : 0;
  if (f.is_active !== undefined) row.is_active = f.is_active ? 1 : 0;
  return row;
}

export async function insertTemplate(db: Knex | Knex.Transaction, tenantId: string, creatorId: string, f: TemplateFields): Promise<string> {
  const id = newId();
  await db('message_templates').insert({ id, tenant_id: tenantId, creator_id: creatorId, ...toRow({ variables: [], tags: [], ...f }) });
  return id;
}

export async function findTemplate(db: Knex | Knex.Transaction, tenantId: string, id: string): Promise<TemplateRow | undefined> {
  const row = await db('message_templates').where({ tenant_id: tenantId, id }).first();
  return row ? decodeTemplate(row) : undefined;
}

export async function updateTemplate(db: Knex | Knex.Transaction, tenantId: string, id: string, f: Partial<TemplateFields>): Promise<void> {
  const row = toRow(f);
  if (Object.keys(row).length) await db('message_templates').where({ tenant_id: tenantId, id }).update(row);
}

export async function deleteTemplate(db: Knex | Knex.Transaction, tenantId: string, id: string): Promise<boolean> {
  return (await db('message_templates').where({ tenant_id: tenantId, id }).delete()) > 0;
}

export interface TemplateFilters {
  type?: string;
  category?: string;
  tag?: string;
  is_active?: boolean;
  is_public?: boolean;
  q?: string;
}

export function templateListQuery(db: Knex, tenantId: string, f: TemplateFilters): Knex.QueryBuilder {
  const q = db('message_templates').where({ tenant_id: tenantId });
  if (f.type) q.andWhere({ template_type: f.type });
  if (f.category) q.andWhere({ category: f.category });
  if (f.is_active !== undefined) q.andWhere({ is_active: f.is_active ? 1 : 0 });
  if (f.is_public !== undefined) q.andWhere({ is_public: f.is_public ? 1 : 0 });
  if (f.tag) q.andWhereRaw('JSON_CONTAINS(COALESCE(tags, JSON_ARRAY()), JSON_QUOTE(?))', [f.tag]);
  if (f.q) q.andWhere('template_name', 'like', `%${f.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  return q;
}

/** Counts one more use (a task or single message created from the template). */
export async function markTemplateUsed(db: Knex | Knex.Transaction, tenantId: string, id: string, uses = 1): Promise<void> {
  await db('message_templates')
    .where({ tenant_id: tenantId, id })
    .update({ usage_count: db.raw('usage_count + ?', [uses]), last_used_time: db.fn.now(3) });
}

export const isDuplicateKey = (err: unknown) => (err as { code?: string }).code === 'ER_DUP_ENTRY';
