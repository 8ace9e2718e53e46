import type { IncomingHttpHeaders } from 'node:http';
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { CallbackIngestor, eventKey } from '../../callbacks/ingest';
import { OverloadedError } from '../../callbacks/group-commit';
import { redriveCallbackEvents } from '../../callbacks/redrive';
import {
  getTenantCallbackEvent,
  listCallbackEvents,
  findFailedCallbackIds,
  type CallbackEventRow,
} from '../../db/callbacks';
import { AppError, InvalidTransitionError, NotFoundError, UnauthorizedError, ValidationError } from '../../errors';
import {
  EVENT_TYPE_BY_NOTIFY,
  NOTIFY,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  checkCallbackHeaders,
  verifyCallbackSignature,
} from '../../gateway/callback-protocol';
import { callbacksRejected } from '../../metrics/prometheus';
import { auditRequest } from '../audit';
import { requirePermission } from '../authenticate';
import { ErrorBody, registry } from '../openapi';
import { decodeCursor, encodeCursor, pageQuery } from '../pagination';
import { tenantIdOf } from '../principal';
import { body, params, query } from '../validate';
import { isoDateOrDateTimeAsDate } from '../fields';
import { inputProblems } from '../input-guards';

/** Largest callback body accepted; gateways batch messages, but nothing legitimate comes near this. */
export const CALLBACK_BODY_LIMIT = 256 * 1024;

const CallbackBody = z.object({
  event_id: z.string().min(1).max(128),
  guid: z.string().min(1).max(100),
  notify_type: z
    .number()
    .int()
    .min(0)
    .max(1_000_000)
    .refine((n) => n !== NOTIFY.wecomOfficial, 'reserved for WeCom official callbacks'),
  payload: z.record(z.unknown()).default({}),
  timestamp: z.number().int().optional(),
});

const StoredAck = z.object({ ok: z.literal(true), id: z.string(), duplicate: z.boolean() });

registry.registerPath({
  method: 'post',
  path: '/callbacks/gateway',
  tags: ['callbacks'],
  summary: 'Gateway callback webhook (HMAC-signed); stores the event and acknowledges',
  security: [],
  request: {
    headers: z.object({
      'x-gateway-timestamp': z.string().openapi({ description: 'unix seconds' }),
      'x-gateway-signature': z.string().openapi({ description: 'sha256=<hex HMAC-SHA256 of `${timestamp}.${rawBody}`>' }),
    }),
    body: { content: { 'application/json': { schema: CallbackBody } } },
  },
  responses: {
    200: { description: 'stored (or a replay of a stored event)', content: { 'application/json': { schema: StoredAck } } },
    400: { description: 'signed but malformed', content: { 'application/json': { schema: ErrorBody } } },
    401: { description: 'unsigned, bad signature or stale timestamp', content: { 'application/json': { schema: ErrorBody } } },
    413: { description: 'body over 256 KB', content: { 'application/json': { schema: ErrorBody } } },
    503: { description: 'overloaded, retry later (nothing stored)', content: { 'application/json': { schema: ErrorBody } } },
  },
});

function reject(reason: string, err: AppError): AppError {
  callbacksRejected.inc({ reason });
  return err;
}

const headerOf = (headers: IncomingHttpHeaders, name: string) => {
  const v = headers[name];
  return typeof v === 'string' ? v : undefined;
};
const header = (req: Request, name: string) => headerOf(req.headers, name);

/**
 * Reads the raw body (needed byte-exact for signatures) with a size limit: a declared Content-Length over
 * the limit is refused before reading, a body that grows past it is refused when it does. Compressed
 * bodies are not accepted. A refused body is counted like any other refusal.
 */
export function rawBody(limit: number): RequestHandler {
  const tooLarge = () => {
    callbacksRejected.inc({ reason: 'too_large' });
    return new AppError(413, 'payload_too_large', `callback body over ${limit} bytes`);
  };
  return (req, _res, next) => {
    const encoding = req.headers['content-encoding'];
    if (encoding && encoding !== 'identity') {
      callbacksRejected.inc({ reason: 'unreadable_body' });
      return next(new AppError(415, 'unsupported_encoding', 'compressed callback bodies are not accepted'));
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return next(tooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err?: unknown) => {
      if (done) return;
      done = true;
      req.removeListener('data', onData);
      if (err) return next(err);
      req.body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
      next();
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Stop buffering; the rest of the body is discarded by Node once the answer is sent.
        finish(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => finish());
    req.once('error', (err) => {
      callbacksRejected.inc({ reason: 'unreadable_body' });
      finish(err);
    });
    // Sender gone mid-body: nobody to answer; just stop buffering.
    req.once('close', () => {
      if (!done) {
        done = true;
        req.removeListener('data', onData);
      }
    });
  };
}

/**
 * The gateway callback intake, framework-free: the express route below and the fast path the API server
 * puts in front of express (src/api/callback-fast-path.ts) both run it, so they answer alike. One per
 * app context (its ingestor holds a pool of its own).
 */
export class GatewayCallbackIntake {
  private readonly ingestor: CallbackIngestor;
  private readonly secret: string;
  private readonly tolerance: number;

  constructor(ctx: AppContext) {
    this.ingestor = new CallbackIngestor(ctx);
    this.secret = ctx.config.gateway.callbackSecret;
    this.tolerance = ctx.config.gateway.callbackToleranceSeconds;
  }

  /** Headers first: unsigned or stale requests are refused before their bodies are read. */
  checkHeaders(headers: IncomingHttpHeaders): AppError | undefined {
    const check = checkCallbackHeaders({ signature: headerOf(headers, SIGNATURE_HEADER), timestamp: headerOf(headers, TIMESTAMP_HEADER) }, this.tolerance);
    if (check === 'missing') return reject('missing_signature', new UnauthorizedError('callback is not signed', 'missing_signature'));
    if (check === 'stale') return reject('stale_timestamp', new UnauthorizedError('callback timestamp outside tolerance', 'stale_timestamp'));
    return undefined;
  }

  /** Verifies, parses and stores one callback; answers the JSON acknowledgement, or throws (an AppError, or OverloadedError). */
  async accept(raw: Buffer, headers: IncomingHttpHeaders, ip: string | undefined): Promise<string> {
    const check = verifyCallbackSignature(this.secret, raw, { signature: headerOf(headers, SIGNATURE_HEADER), timestamp: headerOf(headers, TIMESTAMP_HEADER) }, this.tolerance);
    if (check === 'stale') throw reject('stale_timestamp', new UnauthorizedError('callback timestamp outside tolerance', 'stale_timestamp'));
    if (check !== 'ok') throw reject('bad_signature', new UnauthorizedError('callback signature does not match', 'invalid_signature'));

    const text = raw.toString('utf8');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw reject('invalid_body', new AppError(400, 'invalid_json', 'callback body is not valid JSON'));
    }
    // Same guard as every API body: no lone surrogates (json_valid refuses them later), no deep nesting.
    const problems = inputProblems(json, 'body');
    if (problems.length) {
      callbacksRejected.inc({ reason: 'invalid_body' });
      throw new ValidationError(problems);
    }
    const parsed = CallbackBody.safeParse(json);
    if (!parsed.success) {
      callbacksRejected.inc({ reason: 'invalid_body' });
      throw new ValidationError(parsed.error.issues.map((i) => ({ field: ['body', ...i.path].join('.'), message: i.message, code: i.code })));
    }
    const cb = parsed.data;
    const stored = await this.ingestor.store({
      eventKey: eventKey('gateway', cb.guid, cb.event_id),
      guid: cb.guid,
      notifyType: cb.notify_type,
      eventType: EVENT_TYPE_BY_NOTIFY[cb.notify_type] ?? 'unknown',
      rawData: text,
      sourceIp: ip,
      userAgent: headerOf(headers, 'user-agent'),
    });
    return JSON.stringify({ ok: true, id: stored.id, duplicate: stored.duplicate });
  }
}

const intakes = new WeakMap<AppContext, GatewayCallbackIntake>();

/** The app context's gateway callback intake (made on first use). */
export function gatewayCallbackIntake(ctx: AppContext): GatewayCallbackIntake {
  let intake = intakes.get(ctx);
  if (!intake) intakes.set(ctx, (intake = new GatewayCallbackIntake(ctx)));
  return intake;
}

/** Saturated intake: 503 with Retry-After, nothing stored (the sender retries). */
export const overloaded = () => new AppError(503, 'overloaded', 'callback intake is saturated; retry shortly');

/** POST /callbacks/gateway — public; authenticates by signature. */
export function gatewayCallbackRouter(ctx: AppContext): Router {
  const router = Router();
  const intake = gatewayCallbackIntake(ctx);
  const checkHeaders: RequestHandler = (req, _res, next) => next(intake.checkHeaders(req.headers));

  router.post('/callbacks/gateway', checkHeaders, rawBody(CALLBACK_BODY_LIMIT), async (req: Request, res: Response, next: NextFunction) => {
    try {
      const ack = await intake.accept(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0), req.headers, req.ip);
      // Hot path: written directly (res.json would also hash the body for an ETag nobody revalidates).
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(ack) });
      res.end(ack);
    } catch (err) {
      if (err instanceof OverloadedError) {
        res.setHeader('Retry-After', '1');
        return next(overloaded());
      }
      next(err);
    }
  });
  return router;
}

// --- Events API (tenant-scoped) ------------------------------------------------------------------

const STATUSES = ['received', 'processing', 'processed', 'failed', 'ignored'] as const;

const isoDate = isoDateOrDateTimeAsDate;

const ListQuery = pageQuery.extend({
  status: z.enum(STATUSES).optional(),
  notify_type: z.coerce.number().int().min(0).optional(),
  guid: z.string().min(1).max(100).optional(),
  event_type: z.string().min(1).max(50).optional(),
  from: isoDate.optional().openapi({ type: 'string', format: 'date-time' }),
  to: isoDate.optional().openapi({ type: 'string', format: 'date-time' }),
});

const IdParams = z.object({ id: z.string().min(1).max(36) });

const EventSummary = registry.register(
  'CallbackEvent',
  z.object({
    id: z.string(),
    guid: z.string(),
    notify_type: z.number().int(),
    event_type: z.string(),
    status: z.enum(STATUSES),
    error_message: z.string().nullable(),
    retry_count: z.number().int(),
    process_time: z.string().nullable(),
    received_time: z.string(),
    source_ip: z.string().nullable(),
  }),
);
const EventDetail = registry.register(
  'CallbackEventDetail',
  EventSummary.extend({ raw_data: z.string(), parsed_data: z.unknown().nullable(), user_agent: z.string().nullable() }),
);

const BulkRedriveBody = z
  .object({
    ids: z.array(z.string().min(1).max(36)).min(1).max(500).optional(),
    notify_type: z.number().int().min(0).optional(),
    from: isoDate.optional().openapi({ type: 'string', format: 'date-time' }),
    to: isoDate.optional().openapi({ type: 'string', format: 'date-time' }),
    limit: z.number().int().min(1).max(500).default(100),
  })
  .strict();
const RedriveResult = z.object({ redriven: z.number().int(), ids: z.array(z.string()) });

const iso = (d: Date | string | null) => (d === null ? null : d instanceof Date ? d.toISOString() : new Date(d).toISOString());

function summary(row: Record<string, unknown>) {
  return {
    id: row.id as string,
    guid: row.guid as string,
    notify_type: Number(row.notify_type),
    event_type: row.event_type as string,
    status: row.status as string,
    error_message: (row.error_message as string | null) ?? null,
    retry_count: Number(row.retry_count),
    process_time: iso((row.process_time as Date | null) ?? null),
    received_time: iso(row.received_time as Date)!,
    source_ip: (row.source_ip as string | null) ?? null,
  };
}

function detail(row: CallbackEventRow) {
  return { ...summary(row as unknown as Record<string, unknown>), raw_data: row.raw_data, parsed_data: row.parsed_data ?? null, user_agent: row.user_agent ?? null };
}

const secured = { security: [{ bearer: [] }] };
registry.registerPath({
  method: 'get',
  path: '/api/v1/callbacks/events',
  tags: ['callbacks'],
  summary: "List the tenant's callback events, newest first (needs callbacks:read)",
  ...secured,
  request: { query: ListQuery },
  responses: {
    200: { description: 'one page', content: { 'application/json': { schema: z.object({ data: z.array(EventSummary), next_cursor: z.string().nullable() }) } } },
    400: { description: 'bad filter', content: { 'application/json': { schema: ErrorBody } } },
  },
});
registry.registerPath({
  method: 'get',
  path: '/api/v1/callbacks/events/{id}',
  tags: ['callbacks'],
  summary: 'One callback event with its raw body (needs callbacks:read)',
  ...secured,
  request: { params: IdParams },
  responses: {
    200: { description: 'the event', content: { 'application/json': { schema: EventDetail } } },
    404: { description: 'no such event in this tenant', content: { 'application/json': { schema: ErrorBody } } },
  },
});
registry.registerPath({
  method: 'post',
  path: '/api/v1/callbacks/events/{id}/redrive',
  tags: ['callbacks'],
  summary: 'Re-process a failed event (needs callbacks:redrive)',
  ...secured,
  request: { params: IdParams },
  responses: {
    202: { description: 'queued again', content: { 'application/json': { schema: EventSummary } } },
    404: { description: 'no such event in this tenant', content: { 'application/json': { schema: ErrorBody } } },
    409: { description: 'event is not failed (details.current_state)', content: { 'application/json': { schema: ErrorBody } } },
  },
});
registry.registerPath({
  method: 'post',
  path: '/api/v1/callbacks/events/redrive',
  tags: ['callbacks'],
  summary: 'Re-process failed events in bulk, by ids or by filter (needs callbacks:redrive)',
  ...secured,
  request: { body: { content: { 'application/json': { schema: BulkRedriveBody } } } },
  responses: {
    202: { description: 'events queued again', content: { 'application/json': { schema: RedriveResult } } },
    400: { description: 'bad body', content: { 'application/json': { schema: ErrorBody } } },
  },
});

/** /api/v1/callbacks/events… — listing, inspection and re-drive of the tenant's callback events. */
export function callbackEventsRouter(ctx: AppContext): Router {
  const router = Router();

  router.get('/callbacks/events', requirePermission('callbacks:read'), async (req, res) => {
    const q = query(req, ListQuery);
    const c = q.cursor ? decodeCursor(q.cursor) : undefined;
    const rows = await listCallbackEvents(ctx.readDb(), {
      tenantId: tenantIdOf(req),
      status: q.status,
      notifyType: q.notify_type,
      guid: q.guid,
      eventType: q.event_type,
      from: q.from,
      to: q.to,
      cursor: c ? { t: new Date(c.t), id: String(c.id) } : undefined,
      limit: q.limit + 1,
    });
    const hasMore = rows.length > q.limit;
    const data = (hasMore ? rows.slice(0, q.limit) : rows).map(summary);
    const last = data[data.length - 1];
    res.json({ data, next_cursor: hasMore && last ? encodeCursor({ created_at: last.received_time, id: last.id }) : null });
  });

  router.get('/callbacks/events/:id', requirePermission('callbacks:read'), async (req, res) => {
    const { id } = params(req, IdParams);
    const row = await getTenantCallbackEvent(ctx.db, tenantIdOf(req), id);
    if (!row) throw new NotFoundError('callback event', id);
    res.json(detail(row));
  });

  router.post('/callbacks/events/redrive', requirePermission('callbacks:redrive'), async (req, res) => {
    const b = body(req, BulkRedriveBody);
    const tenantId = tenantIdOf(req);
    const ids = await findFailedCallbackIds(ctx.db, { tenantId, ids: b.ids, notifyType: b.notify_type, from: b.from, to: b.to, limit: b.ids ? b.ids.length : b.limit });
    const redriven = await redriveCallbackEvents(ctx, tenantId, ids, (trx, moved) =>
      auditRequest(trx, req, 'callback_event.redrive_bulk', { type: 'callback_event' }, { count: moved.length, ids: moved }),
    );
    res.status(202).json({ redriven: redriven.length, ids: redriven });
  });

  router.post('/callbacks/events/:id/redrive', requirePermission('callbacks:redrive'), async (req, res) => {
    const { id } = params(req, IdParams);
    const tenantId = tenantIdOf(req);
    const row = await getTenantCallbackEvent(ctx.db, tenantId, id);
    if (!row) throw new NotFoundError('callback event', id);
    if (row.status !== 'failed') throw new InvalidTransitionError('callback event', row.status, 'received');
    const moved = await redriveCallbackEvents(ctx, tenantId, [id], (trx) => auditRequest(trx, req, 'callback_event.redrive', { type: 'callback_event', id }));
    if (moved.length === 0) {
      const now = await getTenantCallbackEvent(ctx.db, tenantId, id);
      throw new InvalidTransitionError('callback event', now?.status ?? 'unknown', 'received');
    }
    const after = await getTenantCallbackEvent(ctx.db, tenantId, id);
    res.status(202).json(summary(after as unknown as Record<string, unknown>));
  });

  return router;
}
