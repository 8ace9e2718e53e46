import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import getRawBody from 'raw-body';
import { API_KEY_HEADER, BATCH_SEND_PATH, IDEMPOTENCY_HEADER } from '../protocol';
import { GatewayError } from '../errors';
import type { WechatyServerOptions } from './server';

/**
 * The send route, `POST /instances/:guid/messages`, served without express when its session runs in this
 * process and the body is plain JSON: express 5 costs about 400 µs of CPU per request on top of node's
 * HTTP server (measured at concurrency 32 on this project's 2-core machine, bare node 137–187 µs vs
 * express 555–844 µs per request), more than the puppet call itself. Everything else, and a send whose
 * session another copy owns (forwarded) or whose body is encoded, goes to the express app unchanged.
 * Both paths share the request check and the error answers (server.ts), so they answer alike.
 * The batch route, `POST /messages/batch` (protocol.ts), is served here only: its items are sends of
 * any accounts, each run like a single send (forwarded to its owner when another copy hosts it).
 */
const SEND_PATH = /^\/instances\/([^/?]+)\/messages(?:\?.*)?$/;
const BODY_LIMIT = 1024 * 1024;

export interface SendRoute {
  /** Checks a send request; answers what to send or throws a 400 GatewayError. */
  check(idempotencyHeader: string | undefined, body: unknown): unknown;
  /** Runs a checked send on a local session; answers the JSON body. */
  run(guid: string, checked: unknown): Promise<unknown>;
  /** Runs a batch request's body (throws a 400 GatewayError for a malformed batch); answers the JSON body. */
  batch(body: unknown, forwarded: boolean): Promise<unknown>;
  /** The error answer, as the express app's error handler gives it. */
  errorAnswer(err: unknown): { status: number; headers: Record<string, string>; body: unknown };
}

export function withFastSends(app: RequestListener, o: Pick<WechatyServerOptions, 'host' | 'apiKey' | 'log'>, route: SendRoute): RequestListener {
  // `serve` answers every error itself; what could still escape (the answer failing on a socket already
  // gone) is logged here rather than left unhandled.
  const unanswered = (err: unknown) => o.log.warn({ err: (err as Error)?.message }, 'wechaty gateway: a send request could not be answered');
  return (req, res) => {
    if (req.method === 'POST' && isBatch(req)) {
      serve(req, res, o.apiKey, route, (body) => route.batch(body, Boolean(req.headers[FORWARDED_HEADER]))).catch(unanswered);
      return;
    }
    const guid = req.method === 'POST' ? localGuid(req, o) : undefined;
    if (guid === undefined) return app(req, res);
    serve(req, res, o.apiKey, route, (body) => {
      const idempotency = req.headers[IDEMPOTENCY_HEADER];
      return route.run(guid, route.check(typeof idempotency === 'string' ? idempotency : undefined, body));
    }).catch(unanswered);
  };
}

/** Marks a request one copy forwarded to another (server.ts), so it is never forwarded again. */
export const FORWARDED_HEADER = 'x-wechaty-forwarded';

const isBatch = (req: IncomingMessage): boolean => {
  const url = req.url ?? '';
  return url === BATCH_SEND_PATH || url.startsWith(`${BATCH_SEND_PATH}?`);
};

/** The guid of a send whose session runs here and whose body needs no decoding; otherwise undefined. */
function localGuid(req: IncomingMessage, o: Pick<WechatyServerOptions, 'host'>): string | undefined {
  const m = SEND_PATH.exec(req.url ?? '');
  if (!m) return undefined;
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('application/json') || req.headers['content-encoding']) return undefined;
  let guid: string;
  try {
    guid = decodeURIComponent(m[1]);
  } catch {
    return undefined;
  }
  const s = o.host.localSession(guid);
  return s && !s.isClosed ? guid : undefined;
}

/** Reads and parses a plain JSON body, runs `handle` on it and answers its result or its error. */
async function serve(req: IncomingMessage, res: ServerResponse, apiKey: string, route: SendRoute, handle: (body: unknown) => Promise<unknown>): Promise<void> {
  try {
    if (req.headers[API_KEY_HEADER] !== apiKey) throw new GatewayError('permanent', 'unauthorized', 'bad or missing API key');
    if (!(req.headers['content-type'] ?? '').startsWith('application/json') || req.headers['content-encoding']) {
      throw new GatewayError('permanent', 'bad_request', 'the body must be plain (unencoded) JSON');
    }
    let body: unknown;
    try {
      const raw = await getRawBody(req, { limit: BODY_LIMIT, length: req.headers['content-length'], encoding: 'utf8' });
      body = raw ? JSON.parse(raw) : {};
    } catch (err) {
      const status = (err as { status?: number }).status;
      throw Object.assign(new Error(status === 413 ? 'request entity too large' : 'the body is not valid JSON'), { status: status && status < 500 ? status : 400 });
    }
    answer(res, 200, {}, await handle(body));
  } catch (err) {
    const a = route.errorAnswer(err);
    answer(res, a.status, a.headers, a.body);
  }
}

function answer(res: ServerResponse, status: number, headers: Record<string, string>, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
}
