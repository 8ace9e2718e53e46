import type { ErrorRequestHandler, RequestHandler } from 'express';
import { isStoreUnavailable, UNAVAILABLE_RETRY_AFTER_SECONDS } from '../db/unavailable';
import { AppError, NotFoundError } from '../errors';
import { logger } from '../logger';
import { fromBodyParser } from './input-guards';

/** JSON 404 for any route nobody answered. */
export const notFound: RequestHandler = (req, _res, next) => next(new NotFoundError('route', `${req.method} ${req.path}`));

/** MySQL duplicate-key errors become 409 so a race between two creates never surfaces as a 500; body-parser errors their own 4xx. */
function fromDriver(err: unknown): AppError | undefined {
  const e = err as { code?: string; type?: string; status?: number; message?: string };
  if (e?.code === 'ER_DUP_ENTRY') return new AppError(409, 'duplicate', 'a resource with the same unique value already exists');
  // MySQL or Redis unreachable for a moment: not the caller's fault and not a bug; retrying will work.
  if (isStoreUnavailable(err)) {
    return new AppError(503, 'service_unavailable', 'a backing service is unavailable; retry shortly', { retry_after_seconds: UNAVAILABLE_RETRY_AFTER_SECONDS });
  }
  return fromBodyParser(err);
}

export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const answer = errorAnswer(err, { path: req.path, requestId: req.requestId });
  if (res.headersSent) return;
  for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
  res.status(answer.status).json(answer.body);
};

/**
 * The answer to an error (status, headers, JSON body), logged as it deserves: what the error handler
 * sends, and what routes served without express (src/api/callback-fast-path.ts) send alike.
 */
export function errorAnswer(err: unknown, at: { path: string; requestId?: string }): { status: number; headers: Record<string, string>; body: unknown } {
  const known = err instanceof AppError ? err : fromDriver(err);
  if (!known) logger.error({ err, path: at.path, requestId: at.requestId }, 'unhandled error');
  else if (known.status === 503 && !(err instanceof AppError)) logger.warn({ err: (err as Error).message, path: at.path, requestId: at.requestId }, 'backing service unavailable');
  const e = known ?? new AppError(500, 'internal_error', 'internal server error');
  const headers: Record<string, string> = {};
  if (e.status === 429 || e.status === 503) {
    const retry = (e.details as { retry_after_seconds?: number } | undefined)?.retry_after_seconds;
    if (retry) headers['Retry-After'] = String(retry);
  }
  return { status: e.status, headers, body: { error: { code: e.code, message: e.message, ...(e.details !== undefined ? { details: e.details } : {}) } } };
}
