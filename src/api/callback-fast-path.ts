import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Request, Response } from 'express';
import proxyaddr from 'proxy-addr';
import { OverloadedError } from '../callbacks/group-commit';
import type { AppContext } from '../context';
import { ValidationError } from '../errors';
import { logContext } from '../logger';
import { errorAnswer } from './error-handler';
import { CALLBACK_BODY_LIMIT, gatewayCallbackIntake, overloaded, rawBody } from './routes/callbacks';

const PATH = '/callbacks/gateway';

/**
 * `POST /callbacks/gateway` served in front of express: every gateway event of every account comes
 * through it, and express's routing was an eighth of the endpoint's CPU per event (bench:callbacks
 * profile). It does what the express path does for this route (request id, client address through the
 * trusted proxies, header check, bounded raw body, the shared intake, the error handler's answers);
 * every other request goes to `app`.
 */
export function withFastGatewayCallbacks(ctx: AppContext, app: RequestListener & { get(setting: string): unknown }): RequestListener {
  const intake = gatewayCallbackIntake(ctx);
  const trust = app.get('trust proxy fn') as Parameters<typeof proxyaddr>[1];
  const readBody = rawBody(CALLBACK_BODY_LIMIT);
  return (req, res) => {
    if (req.method !== 'POST' || req.url !== PATH) return app(req, res);
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && incoming.length <= 64 ? incoming : randomUUID();
    res.setHeader('X-Request-Id', requestId);
    logContext.run({ requestId }, () => serve(req, res, requestId));
  };

  function serve(req: IncomingMessage, res: ServerResponse, requestId: string): void {
    const fail = (err: unknown) => {
      if (err instanceof OverloadedError) {
        res.setHeader('Retry-After', '1');
        err = overloaded();
      }
      const a = errorAnswer(err, { path: PATH, requestId });
      if (!res.headersSent) send(res, a.status, a.headers, JSON.stringify(a.body));
    };
    const ip = proxyaddr(req, trust);
    if (ip !== undefined && !isIP(ip)) {
      return fail(new ValidationError([{ field: 'headers.x-forwarded-for', code: 'invalid_ip', message: 'must be a list of IP addresses' }], 'invalid X-Forwarded-For header'));
    }
    const refused = intake.checkHeaders(req.headers);
    if (refused) return fail(refused);
    // The route's own body reader (limits, encodings and their answers), given the bare request.
    const carrier = req as IncomingMessage & { body?: unknown };
    readBody(carrier as unknown as Request, res as unknown as Response, (err?: unknown) => {
      if (err) return fail(err);
      intake
        .accept(Buffer.isBuffer(carrier.body) ? carrier.body : Buffer.alloc(0), req.headers, ip)
        .then((ack) => send(res, 200, {}, ack), fail)
        .catch((e: unknown) => ctx.logger.warn({ err: (e as Error)?.message, requestId }, 'gateway callback could not be answered'));
    });
  }
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, text: string): void {
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
}
