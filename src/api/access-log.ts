import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import pinoHttp from 'pino-http';
import type { Logger } from '../logger';

/**
 * Query strings can carry credentials (the download links' `token`, a pasted API key), so the access log
 * keeps the path and says only that a query was there; the same for the Referer header.
 */
export function redactQuery(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const at = url.indexOf('?');
  return at < 0 ? url : `${url.slice(0, at)}?[redacted]`;
}

interface SerializedRequest {
  url?: string;
  query?: unknown;
  headers?: Record<string, unknown>;
}

/** One access-log line per request (health probes and scrapes excepted), without query strings. */
export function accessLog(logger: Logger): RequestHandler {
  return pinoHttp({
    logger,
    genReqId: (req) => (req as Request).requestId ?? randomUUID(),
    autoLogging: { ignore: (req) => (req.url ?? '').startsWith('/health') || req.url === '/metrics' },
    serializers: {
      req: (req: SerializedRequest) => {
        req.url = redactQuery(req.url);
        delete req.query;
        if (req.headers && typeof req.headers.referer === 'string') req.headers = { ...req.headers, referer: redactQuery(req.headers.referer) };
        return req;
      },
    },
  });
}
