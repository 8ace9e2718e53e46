import type { Readable } from 'node:stream';
import type { AppContext } from '../context';
import type { FileRow } from '../db/files';
import { ForbiddenError, NotFoundError } from '../errors';
import { signDownloadToken, verifyDownloadToken, type DownloadGrant } from './url-signing';

/**
 * Download links for tenant files, with either storage driver. A link is our own signed token served by
 * `GET /files/download` (never a storage-presigned URL, which nobody could revoke), so every download
 * re-checks what may have changed since the link was handed out: the tenant is still active and the file
 * not deleted. With MinIO the bytes stream through the API.
 */
export function downloadLink(ctx: Pick<AppContext, 'config'>, file: LinkedFile, expiresSeconds: number): { url: string; expiresAt: Date } {
  const expires = Math.floor(Date.now() / 1000) + expiresSeconds;
  const token = signDownloadToken(ctx.config.auth.jwtSecret, { k: file.object_key, e: expires, ct: file.content_type, fn: file.file_name });
  return { url: `${ctx.config.http.publicUrl.replace(/\/$/, '')}/files/download?token=${encodeURIComponent(token)}`, expiresAt: new Date(expires * 1000) };
}

export type LinkedFile = Pick<FileRow, 'object_key' | 'file_name'> & { content_type?: string };

export interface OpenedDownload {
  grant: DownloadGrant;
  size: number;
  body: Readable;
}

/** Checks a link's token, its tenant and its file, then opens the object; 403 / 404 otherwise. */
export async function openDownload(ctx: AppContext, token: string): Promise<OpenedDownload> {
  const check = verifyDownloadToken(ctx.config.auth.jwtSecret, token);
  if (!check.ok) {
    throw check.reason === 'expired' ? new ForbiddenError('download link expired', 'download_link_expired') : new ForbiddenError('invalid download link', 'invalid_download_token');
  }
  // object_key is unique: the row names the file's tenant, whatever the key looks like.
  const row = await ctx.db('files as f')
    .join('tenants as t', 't.id', 'f.tenant_id')
    .where('f.object_key', check.grant.k)
    .whereNull('f.deleted_at')
    .first('t.status as tenant_status');
  if (!row || row.tenant_status === 'deleted') throw new NotFoundError('file');
  if (row.tenant_status !== 'active') throw new ForbiddenError('the tenant is suspended', 'tenant_suspended');
  const info = await ctx.storage.stat(check.grant.k);
  if (!info) throw new NotFoundError('file');
  return { grant: check.grant, size: info.size, body: await ctx.storage.get(check.grant.k) };
}
