import { createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { AppContext } from '../context';
import { findTenantFile, insertFile, type FileRow } from '../db/files';
import { newId } from '../db/ids';
import { AppError, NotFoundError } from '../errors';
import { tenantObjectKey, type FilePurpose } from './types';

export class FileTooLargeError extends AppError {
  constructor(limit: number) {
    super(413, 'file_too_large', `file exceeds the upload limit of ${limit} bytes`, { max_bytes: limit });
  }
}

/** Counts bytes and computes SHA-256 while the data streams through; fails once the limit is passed. */
export class HashingMeter extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  constructor(private readonly maxBytes = Number.POSITIVE_INFINITY) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) return cb(new FileTooLargeError(this.maxBytes));
    this.hash.update(chunk);
    cb(null, chunk);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

export interface SaveFileInput {
  tenantId: string;
  purpose: FilePurpose;
  fileName: string;
  contentType: string;
  body: Readable | Buffer | string;
  createdBy?: string | null;
  /** Refuse (FileTooLargeError) past this many bytes. */
  maxBytes?: number;
}

/**
 * Streams a file into storage under the tenant's prefix and records it in `files` (size and SHA-256
 * measured on the way). The object is written first and the row second, so a row always has its
 * object; an object whose row insert failed is removed here, or later by the orphan cleanup.
 * Used by the upload API, task reports and QR codes.
 */
export async function saveTenantFile(ctx: AppContext, input: SaveFileInput): Promise<FileRow> {
  const id = newId();
  const key = tenantObjectKey(input.tenantId, input.purpose, id);
  const source = typeof input.body === 'string' || Buffer.isBuffer(input.body) ? Readable.from([Buffer.from(input.body)]) : input.body;
  const meter = new HashingMeter(input.maxBytes);
  source.on('error', (err) => meter.destroy(err));
  // The storage driver attaches its own listeners, possibly after an await; until then an early
  // failure (size limit) must not surface as an unhandled 'error' event. put() still sees it.
  meter.on('error', () => undefined);
  source.pipe(meter);
  await ctx.storage.put(key, meter, { contentType: input.contentType });
  if (meter.errored) throw meter.errored;
  try {
    return await insertFile(ctx.db, {
      id,
      tenant_id: input.tenantId,
      purpose: input.purpose,
      object_key: key,
      file_name: input.fileName.slice(0, 255),
      content_type: input.contentType,
      size_bytes: meter.bytes,
      sha256: meter.digest(),
      created_by: input.createdBy ?? null,
    });
  } catch (err) {
    await ctx.storage.delete(key).catch(() => undefined);
    throw err;
  }
}

/** The tenant's file row, or 404 (another tenant's id included). */
export async function getTenantFile(ctx: AppContext, tenantId: string, fileId: string): Promise<FileRow> {
  const row = await findTenantFile(ctx.db, tenantId, fileId);
  if (!row) throw new NotFoundError('file', fileId);
  return row;
}

/** Opens a tenant's file for reading (e.g. a CSV of import targets); 404 when not the tenant's or gone. */
export async function openTenantFile(ctx: AppContext, tenantId: string, fileId: string): Promise<Readable> {
  const row = await getTenantFile(ctx, tenantId, fileId);
  try {
    return await ctx.storage.get(row.object_key);
  } catch (err) {
    if ((err as Error).name === 'ObjectNotFoundError') throw new NotFoundError('file', fileId);
    throw err;
  }
}
