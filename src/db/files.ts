import type { Knex } from 'knex';
import type { PageQuery, Page } from '../api/pagination';
import { paginate } from '../api/pagination';
import type { FilePurpose } from '../storage/types';

/** The files table: tenant-owned metadata of objects in storage. Every read is scoped by tenant. */
export interface FileRow {
  id: string;
  tenant_id: string;
  purpose: FilePurpose;
  object_key: string;
  file_name: string;
  content_type: string;
  size_bytes: number;
  sha256: string | null;
  created_by: string | null;
  created_at: Date;
  deleted_at: Date | null;
}

const hydrate = (r: Record<string, unknown>): FileRow => ({ ...(r as unknown as FileRow), size_bytes: Number(r.size_bytes) });

export async function insertFile(db: Knex | Knex.Transaction, row: Omit<FileRow, 'created_at' | 'deleted_at'>): Promise<FileRow> {
  await db('files').insert(row);
  return hydrate(await db('files').where({ id: row.id }).first());
}

export async function findTenantFile(db: Knex, tenantId: string, id: string): Promise<FileRow | undefined> {
  const row = await db('files').where({ tenant_id: tenantId, id }).whereNull('deleted_at').first();
  return row ? hydrate(row) : undefined;
}

export async function listTenantFiles(db: Knex, tenantId: string, page: PageQuery, filter: { purpose?: FilePurpose }): Promise<Page<FileRow>> {
  const q = db('files').where({ tenant_id: tenantId }).whereNull('deleted_at').select('*');
  if (filter.purpose) q.where('purpose', filter.purpose);
  const res = await paginate<FileRow>(q, page, 'files');
  return { ...res, data: res.data.map((r) => hydrate(r as unknown as Record<string, unknown>)) };
}

/** Soft delete; returns false when the row is not the tenant's or already deleted. */
export async function softDeleteTenantFile(db: Knex | Knex.Transaction, tenantId: string, id: string, at = new Date()): Promise<boolean> {
  return (await db('files').where({ tenant_id: tenantId, id }).whereNull('deleted_at').update({ deleted_at: at })) > 0;
}

export async function markFilesDeleted(db: Knex, ids: string[], at = new Date()): Promise<void> {
  if (ids.length) await db('files').whereIn('id', ids).whereNull('deleted_at').update({ deleted_at: at });
}

export async function filesDeletedBefore(db: Knex, before: Date, limit: number): Promise<Array<{ id: string; object_key: string }>> {
  return db('files').whereNotNull('deleted_at').where('deleted_at', '<', before).orderBy('deleted_at').limit(limit).select('id', 'object_key');
}

export async function deleteFileRows(db: Knex, ids: string[]): Promise<void> {
  if (ids.length) await db('files').whereIn('id', ids).delete();
}

/** Which of these object keys have a files row (deleted or not). */
export async function fileKeysPresent(db: Knex, keys: string[]): Promise<Set<string>> {
  if (!keys.length) return new Set();
  const rows: Array<{ object_key: string }> = await db('files').whereIn('object_key', keys).select('object_key');
  return new Set(rows.map((r) => r.object_key));
}
