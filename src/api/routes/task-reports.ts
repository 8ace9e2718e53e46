import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { downloadLink } from '../../storage/download-links';
import { exportTaskReport } from '../../storage/task-report';
import { auditRequest } from '../audit';
import { requirePermission } from '../authenticate';
import { ErrorBody, registry } from '../openapi';
import { principalOf, tenantIdOf } from '../principal';
import { params } from '../validate';
import { presentFile } from './files';

const idParams = z.object({ id: z.string().min(1).max(36) });
const ReportResponse = z.object({
  file: z.object({ id: z.string(), file_name: z.string(), size_bytes: z.number(), sha256: z.string().nullable() }).passthrough(),
  download_url: z.string(),
  expires_at: z.string(),
});

registry.registerPath({
  method: 'post',
  path: '/api/v1/tasks/{id}/report',
  tags: ['tasks'],
  summary: 'Export every message of the task (status, error) as a CSV report file (tasks:read + files:write)',
  request: { params: idParams },
  responses: {
    201: { description: 'report stored', content: { 'application/json': { schema: ReportResponse } } },
    404: { description: 'task not found', content: { 'application/json': { schema: ErrorBody } } },
  },
});

const URL_TTL_SECONDS = 3600;

export function taskReportsRouter(ctx: AppContext): Router {
  const router = Router();
  router.post('/tasks/:id/report', requirePermission('tasks:read'), requirePermission('files:write'), async (req, res) => {
    const { id } = params(req, idParams);
    const file = await exportTaskReport(ctx, tenantIdOf(req), id, principalOf(req).id);
    await auditRequest(ctx.db, req, 'task.report_export', { type: 'task', id }, { file_id: file.id, size_bytes: file.size_bytes });
    const link = downloadLink(ctx, file, URL_TTL_SECONDS);
    res.status(201).json({ file: presentFile(file), download_url: link.url, expires_at: link.expiresAt.toISOString() });
  });
  return router;
}
