import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import getRawBody from 'raw-body';
import { API_KEY_HEADER, IDEMPOTENCY_HEADER } from '../protocol';
import { GatewayError } from '../errors';
import type { WechatyServerOptions } from './server';

/**
 * The send route, `POST /instances/:guid/messages`, served without express when its session runs in this
 * process and the body is plain JSON: express 5 costs about 400 µs of CPU per request on top of node's
 * HTTP server (measured at concurrency 32 on this project's 2-core machine, bare node 137–187 µs vs
 * express 555–844 µs per request), more than the puppet call itself. Everything else, and a send whose
 * session another copy owns (forwarded) or whose body is encoded, goes to the express app unchanged.
 * Both paths share the request check and the error answers (server.ts), so they answer alike.
 */
const SEND_PATH = /^\/instances\/([^/?]+)\/messages(?:\?.*)?$/;
const BODY_LIMIT = 1024 * 1024;

export interface SendRoute {
  /** Checks a send request; answers what to send or throws a 400 GatewayError. */
  check(idempotencyHeader: string | undefined, body: unknown): unknown;
  /** Runs a checked send on a local session; answers the JSON body. */
  run(guid: string, checked: unknown): Promise<unknown>;
  /** The error answer, as the express app's error handler gives it. */
  errorAnswer(err: unknown): { status: number; headers: Record<string, string>; body: unknown };
}

export function withFastSends(app: RequestListener, o: Pick<WechatyServerOptions, 'host' | 'apiKey'>, route: SendRoute): RequestListener {
  return (req, res) => {
    const guid = req.method === 'POST' ? localGuid(req, o) : undefined;
    if (guid === undefined) return app(req, res);
    void serve(req, res, guid, o.apiKey, route);
  };
}

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

async function serve(req: IncomingMessage, res: ServerResponse, guid: string, apiKey: string, route: SendRoute): Promise<void> {
  try {
    if (req.headers[API_KEY_HEADER] !== apiKey) throw new GatewayError('permanent', 'unauthorized', 'bad or missing API key');
    let body: unknown;
    try {
      const raw = await getRawBody(req, { limit: BODY_LIMIT, length: req.headers['content-length'], encoding: 'utf8' });
      body = raw ? JSON.parse(raw) : {};
    } catch (err) {
      const status = (err as { status?: number }).status;
      throw Object.assign(new Error(status === 413 ? 'request entity too large' : 'the body is not valid JSON'), { status: status && status < 500 ? status : 400 });
    }
    const idempotency = req.headers[IDEMPOTENCY_HEADER];
    const checked = route.check(typeof idempotency === 'string' ? idempotency : undefined, body);
    answer(res, 200, {}, await route.run(guid, checked));
  } catch (err) {
    const a = route.errorAnswer(err);
    answer(res, a.status, a.headers, a.body);
  }
}

function answer(res: ServerResponse, status: number, headers: Record<string, string>, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
}
