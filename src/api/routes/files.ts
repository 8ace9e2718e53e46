import busboy from 'busboy';
import { Router, type Request } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { listTenantFiles, softDeleteTenantFile, type FileRow } from '../../db/files';
import { AppError, NotFoundError, ValidationError } from '../../errors';
import { contentDisposition } from '../../storage/minio';
import { getTenantFile, saveTenantFile } from '../../storage/tenant-files';
import { FILE_PURPOSES, type FilePurpose } from '../../storage/types';
import { downloadLink, openDownload } from '../../storage/download-links';
import { auditRequest } from '../audit';
import { requirePermission } from '../authenticate';
import { ErrorBody, registry } from '../openapi';
import { pageQuery, pageResponse } from '../pagination';
import { principalOf, tenantIdOf } from '../principal';
import { params, query } from '../validate';

/**
 * Tenant files: streaming multipart upload (size limit, content-type allow-list per purpose, SHA-256),
 * listing, metadata, presigned download URLs and delete. `qr` and `report` files are produced by the
 * platform (saveTenantFile), so only `media` and `import` can be uploaded.
 */
export const UPLOAD_CONTENT_TYPES: Record<'media' | 'import', readonly string[]> = {
  media: [
    'image/jpeg',
    'image/png',
    'image/gif',
    'image/webp',
    'video/mp4',
    'audio/mpeg',
    'audio/amr',
    'application/pdf',
    'text/plain',
    'application/zip',
    'application/msword',
    'application/vnd.ms-excel',
    'application/vnd.ms-powerpoint',
    'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  ],
  // Browsers label CSV inconsistently; these are the labels seen in practice.
  import: ['text/csv', 'application/csv', 'text/plain', 'application/vnd.ms-excel'],
};

class UnsupportedMediaTypeError extends AppError {
  constructor(message: string, details?: unknown) {
    super(415, 'unsupported_media_type', message, details);
  }
}

const FileView = z
  .object({
    id: z.string(),
    purpose: z.enum(FILE_PURPOSES),
    file_name: z.string(),
    content_type: z.string(),
    size_bytes: z.number(),
    sha256: z.string().nullable(),
    created_by: z.string().nullable(),
    created_at: z.string(),
  })
  .openapi('File');

const uploadQuery = z.object({ purpose: z.enum(['media', 'import']).default('media') });
const listQuery = pageQuery.extend({ purpose: z.enum(FILE_PURPOSES).optional() });
const idParams = z.object({ id: z.string().min(1).max(36) });
const urlQuery = z.object({ expires_in: z.coerce.number().int().min(60).max(7 * 86_400).default(900) });

export function presentFile(f: FileRow) {
  return {
    id: f.id,
    purpose: f.purpose,
    file_name: f.file_name,
    content_type: f.content_type,
    size_bytes: f.size_bytes,
    sha256: f.sha256,
    created_by: f.created_by,
    created_at: f.created_at.toISOString(),
  };
}

const json = <T extends z.ZodTypeAny>(schema: T) => ({ 'application/json': { schema } });
const errors = {
  400: { description: 'invalid request', content: json(ErrorBody) },
  404: { description: 'not found', content: json(ErrorBody) },
};
registry.registerPath({
  method: 'post',
  path: '/api/v1/files',
  tags: ['files'],
  summary: 'Upload one file (multipart/form-data, part "file"); streamed, size-limited, SHA-256 computed (files:write)',
  request: {
    query: uploadQuery,
    body: { content: { 'multipart/form-data': { schema: z.object({ file: z.string().openapi({ format: 'binary' }) }) } } },
  },
  responses: {
    201: { description: 'stored', content: json(FileView) },
    400: errors[400],
    413: { description: 'file too large', content: json(ErrorBody) },
    415: { description: 'content type not allowed for the purpose', content: json(ErrorBody) },
  },
});
registry.registerPath({ method: 'get', path: '/api/v1/files', tags: ['files'], summary: 'List files, newest first (files:read)', request: { query: listQuery }, responses: { 200: { description: 'page', content: json(pageResponse(FileView)) }, 400: errors[400] } });
registry.registerPath({ method: 'get', path: '/api/v1/files/{id}', tags: ['files'], summary: 'File metadata (files:read)', request: { params: idParams }, responses: { 200: { description: 'file', content: json(FileView) }, 404: errors[404] } });
registry.registerPath({
  method: 'get',
  path: '/api/v1/files/{id}/download-url',
  tags: ['files'],
  summary: 'Signed download URL (files:read); it stops working once the file is deleted or the tenant suspended',
  request: { params: idParams, query: urlQuery },
  responses: { 200: { description: 'url', content: json(z.object({ url: z.string(), expires_at: z.string() })) }, 404: errors[404] },
});
registry.registerPath({ method: 'delete', path: '/api/v1/files/{id}', tags: ['files'], summary: 'Delete a file (files:write)', request: { params: idParams }, responses: { 204: { description: 'deleted' }, 404: errors[404] } });

registry.registerPath({
  method: 'get',
  path: '/files/download',
  tags: ['files'],
  summary: 'Download through a signed link (the token is the credential; no bearer needed)',
  security: [],
  request: { query: z.object({ token: z.string() }) },
  responses: {
    200: { description: 'the file bytes', content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } } },
    403: { description: 'invalid or expired link, or the tenant is suspended', content: json(ErrorBody) },
    404: { description: 'file gone', content: json(ErrorBody) },
  },
});

function safeFileName(name: string | undefined): string {
  const base = (name ?? '').split(/[\\/]/).pop()?.replace(/[\x00-\x1f\x7f]/g, '').trim();
  return (base || 'upload').slice(0, 255);
}

/** Reads the multipart body; resolves with the stored file. The request is drained on every failure. */
function receiveUpload(ctx: AppContext, req: Request, purpose: 'media' | 'import'): Promise<FileRow> {
  const tenantId = tenantIdOf(req);
  const maxBytes = ctx.config.files.maxUploadBytes;
  return new Promise<FileRow>((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, defParamCharset: 'utf8', limits: { files: 1, fileSize: maxBytes + 1, fields: 20, fieldSize: 4096, parts: 30 } });
    } catch {
      reject(new UnsupportedMediaTypeError('expected multipart/form-data'));
      return;
    }
    let started = false;
    const fail = (err: unknown) => {
      req.unpipe(bb);
      req.resume(); // read and discard the rest so the client gets our answer
      reject(err);
    };
    bb.on('file', (field, stream, info) => {
      if (field !== 'file' || started) {
        stream.resume();
        return;
      }
      started = true;
      const contentType = info.mimeType.toLowerCase().split(';')[0].trim();
      const allowed = UPLOAD_CONTENT_TYPES[purpose];
      if (!allowed.includes(contentType)) {
        stream.resume();
        fail(new UnsupportedMediaTypeError(`content type ${contentType} is not allowed for ${purpose} files`, { content_type: contentType, allowed }));
        return;
      }
      saveTenantFile(ctx, {
        tenantId,
        purpose,
        fileName: safeFileName(info.filename),
        contentType,
        body: stream,
        createdBy: principalOf(req).id,
        maxBytes,
      }).then(resolve, fail);
    });
    bb.on('error', (err) => fail(new ValidationError([{ field: 'body', message: `malformed multipart body: ${(err as Error).message}` }])));
    bb.on('close', () => {
      if (!started) reject(new ValidationError([{ field: 'body.file', message: 'a multipart part named "file" is required' }]));
    });
    req.pipe(bb);
  });
}

export function filesRouter(ctx: AppContext): Router {
  const router = Router();

  router.post('/files', requirePermission('files:write'), async (req, res) => {
    const { purpose } = query(req, uploadQuery);
    const type = (req.headers['content-type'] ?? '').toLowerCase();
    if (!type.startsWith('multipart/form-data')) throw new UnsupportedMediaTypeError('expected multipart/form-data');
    const declared = Number(req.headers['content-length']);
    // Multipart framing adds a little; anything far beyond the limit is refused before reading it.
    if (Number.isFinite(declared) && declared > ctx.config.files.maxUploadBytes + 64 * 1024) {
      res.setHeader('Connection', 'close');
      throw new AppError(413, 'file_too_large', `file exceeds the upload limit of ${ctx.config.files.maxUploadBytes} bytes`, { max_bytes: ctx.config.files.maxUploadBytes });
    }
    const file = await receiveUpload(ctx, req, purpose);
    await auditRequest(ctx.db, req, 'file.upload', { type: 'file', id: file.id }, { purpose, size_bytes: file.size_bytes, sha256: file.sha256 });
    res.status(201).json(presentFile(file));
  });

  router.get('/files', requirePermission('files:read'), async (req, res) => {
    const q = query(req, listQuery);
    const page = await listTenantFiles(ctx.readDb(), tenantIdOf(req), { limit: q.limit, cursor: q.cursor }, { purpose: q.purpose as FilePurpose | undefined });
    res.json({ data: page.data.map(presentFile), next_cursor: page.next_cursor });
  });

  router.get('/files/:id', requirePermission('files:read'), async (req, res) => {
    const { id } = params(req, idParams);
    res.json(presentFile(await getTenantFile(ctx, tenantIdOf(req), id)));
  });

  router.get('/files/:id/download-url', requirePermission('files:read'), async (req, res) => {
    const { id } = params(req, idParams);
    const { expires_in } = query(req, urlQuery);
    const file = await getTenantFile(ctx, tenantIdOf(req), id);
    const link = downloadLink(ctx, file, expires_in);
    res.json({ url: link.url, expires_at: link.expiresAt.toISOString() });
  });

  router.delete('/files/:id', requirePermission('files:write'), async (req, res) => {
    const { id } = params(req, idParams);
    const tenantId = tenantIdOf(req);
    const file = await getTenantFile(ctx, tenantId, id);
    await ctx.db.transaction(async (trx) => {
      if (!(await softDeleteTenantFile(trx, tenantId, id))) throw new NotFoundError('file', id);
      await auditRequest(trx, req, 'file.delete', { type: 'file', id }, { file_name: file.file_name });
    });
    // Best effort now; the retention job removes objects of deleted rows it finds later.
    await ctx.storage.delete(file.object_key).catch((err) => ctx.logger.warn({ err, fileId: id }, 'object delete failed; left to cleanup'));
    res.status(204).end();
  });

  return router;
}

/**
 * `GET /files/download?token=…`: every download link of either driver (public: the HMAC token is the
 * credential). The tenant must still be active and the file not deleted (see download-links.ts).
 */
export function fileDownloadRouter(ctx: AppContext): Router {
  const router = Router();
  router.get('/files/download', async (req, res) => {
    const token = typeof req.query.token === 'string' ? req.query.token : '';
    const { grant, size, body } = await openDownload(ctx, token);
    res.setHeader('Content-Type', grant.ct ?? 'application/octet-stream');
    res.setHeader('Content-Length', String(size));
    res.setHeader('Cache-Control', 'private, no-store');
    if (grant.fn) res.setHeader('Content-Disposition', contentDisposition(grant.fn));
    body.on('error', () => res.destroy());
    body.pipe(res);
  });
  return router;
}
