import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { request } from 'undici';
import type { Logger } from 'pino';
import { GatewayError } from '../errors';
import { API_KEY_HEADER, BATCH_SEND_MAX, BATCH_SEND_PATH, IDEMPOTENCY_HEADER, type WireBatchResult, type WireStatus } from '../protocol';
import type { MessageContent } from '../types';
import type { SessionHost } from './host';
import { FORWARDED_HEADER, withFastSends } from './fast-send';
import type { WechatySender } from './sender';
import type { WechatySession } from './session';

/**
 * The gateway REST protocol (src/gateway/protocol.ts) in front of the Wechaty sessions. A request for an
 * instance whose session another copy owns is forwarded there once (marked, so it never loops).
 */
export interface WechatyServerOptions {
  host: SessionHost;
  sender: WechatySender;
  apiKey: string;
  log: Logger;
}

const MESSAGE_TYPES = new Set(['text', 'image', 'file', 'link', 'miniprogram', 'at']);

/** HTTP answer of a gateway error, as the platform's HTTP client maps it back (http-client.ts). */
function httpOf(err: GatewayError): { status: number; code: string } {
  switch (err.kind) {
    case 'rate_limited':
      return { status: 429, code: 'rate_limited' };
    case 'account_offline':
      return { status: 409, code: 'account_offline' };
    case 'outcome_unknown':
      return { status: 409, code: 'outcome_unknown' };
    case 'retryable':
      return { status: 503, code: err.code };
    default:
      return { status: err.code === 'instance_not_found' ? 404 : err.code === 'bad_request' || err.code === 'bad_credentials' ? 400 : 422, code: err.code };
  }
}

/** A send request, checked: answers a 400 GatewayError naming what is wrong. */
interface CheckedSend {
  key: string;
  conversationId: string;
  content: MessageContent;
}

function checkSend(idempotencyHeader: string | undefined, body: unknown): CheckedSend {
  const b = body as { idempotency_key?: unknown; conversation_id?: unknown; content?: unknown } | undefined;
  const key = idempotencyHeader ?? b?.idempotency_key;
  const conversationId = b?.conversation_id;
  const content = b?.content as MessageContent | undefined;
  if (typeof key !== 'string' || !key || key.length > 200) throw new GatewayError('permanent', 'bad_request', 'Idempotency-Key required');
  if (typeof conversationId !== 'string' || !conversationId) throw new GatewayError('permanent', 'bad_request', 'conversation_id required');
  if (!content || typeof content !== 'object' || !MESSAGE_TYPES.has(content.type)) throw new GatewayError('permanent', 'bad_request', 'content.type must be a supported message type');
  return { key, conversationId, content };
}

async function runSend(o: WechatyServerOptions, s: WechatySession, send: CheckedSend): Promise<{ message_id: string; duplicate: boolean }> {
  const out = await o.sender.send(s, send.key, send.conversationId, send.content);
  return { message_id: out.messageId, duplicate: out.duplicate };
}

/** The answer to a failed request: a GatewayError's kind and code, a body parser's 4xx, or a 500 (logged). */
function errorAnswer(err: unknown, log: Logger): { status: number; headers: Record<string, string>; body: unknown } {
  if (err instanceof GatewayError) {
    const { status, code } = err.code === 'unauthorized' ? { status: 401, code: 'unauthorized' } : err.code === 'not_found' ? { status: 404, code: 'not_found' } : httpOf(err);
    const retry = err.retryAfterMs !== undefined;
    return {
      status,
      headers: retry ? { 'retry-after': String(Math.max(1, Math.ceil(err.retryAfterMs! / 1000))) } : {},
      body: { error: { code, message: err.message, ...(retry ? { retry_after_ms: err.retryAfterMs } : {}) } },
    };
  }
  const e = err as { status?: number; message?: string };
  if (e.status && e.status < 500) return { status: e.status, headers: {}, body: { error: { code: 'bad_request', message: e.message ?? 'bad request' } } };
  log.error({ err: (err as Error)?.message }, 'wechaty gateway: request failed');
  return { status: 500, headers: {}, body: { error: { code: 'internal_error', message: 'gateway error' } } };
}

/** The gateway's HTTP handler: the express app, with sends to local sessions taken on a fast path (fast-send.ts). */
export function buildWechatyApp(o: WechatyServerOptions): RequestListener {
  return withFastSends(buildExpressApp(o), o, {
    check: checkSend,
    async run(guid, checked) {
      // The session was here when the request came in; it may have been handed over since (rare): the
      // platform retries the send with its key, and it reaches the new owner.
      const where = await o.host.locate(guid);
      if (!('here' in where)) throw new GatewayError('retryable', 'ownership_moved', 'the instance is changing owner; try again');
      return runSend(o, where.here, checked as CheckedSend);
    },
    batch: (body, forwarded) => runBatch(o, body, forwarded),
    errorAnswer: (err) => errorAnswer(err, o.log),
  });
}

/**
 * A batch of sends (protocol.ts): each item checked and run as its single send would be, side by side;
 * items whose session another copy hosts go there in one forwarded batch per copy.
 */
async function runBatch(o: WechatyServerOptions, body: unknown, forwarded: boolean): Promise<{ results: WireBatchResult[] }> {
  const sends = (body as { sends?: unknown } | undefined)?.sends;
  if (!Array.isArray(sends) || sends.length === 0 || sends.length > BATCH_SEND_MAX || sends.some((x) => !x || typeof x !== 'object')) {
    throw new GatewayError('permanent', 'bad_request', `sends must be an array of 1 to ${BATCH_SEND_MAX} objects`);
  }
  const results: WireBatchResult[] = new Array(sends.length);
  const failed = (k: number, err: unknown) => {
    const a = errorAnswer(err, o.log);
    results[k] = { status: a.status, ...(a.body as { error: { code: string; message: string } }) };
  };
  const remote = new Map<string, number[]>();
  await Promise.all(
    sends.map(async (item: { guid?: unknown; idempotency_key?: unknown }, k) => {
      try {
        const guid = item.guid;
        if (typeof guid !== 'string' || !guid) throw new GatewayError('permanent', 'bad_request', 'guid required');
        const send = checkSend(undefined, item);
        const where = await o.host.locate(guid);
        if ('missing' in where) throw new GatewayError('permanent', 'instance_not_found', `no instance ${guid}`);
        if ('here' in where) {
          results[k] = await runSend(o, where.here, send);
          return;
        }
        if (forwarded) throw new GatewayError('retryable', 'ownership_moved', 'the instance is changing owner; try again');
        remote.set(where.remote.url, [...(remote.get(where.remote.url) ?? []), k]);
      } catch (err) {
        failed(k, err);
      }
    }),
  );
  await Promise.all(
    [...remote].map(async ([url, ks]) => {
      try {
        const res = await postToOwner<{ results?: WireBatchResult[] }>(o, url, BATCH_SEND_PATH, { sends: ks.map((k) => sends[k]) }, 60_000);
        const answer = res.body;
        if (res.statusCode !== 200 || !Array.isArray(answer.results) || answer.results.length !== ks.length) throw new Error(`owner answered ${res.statusCode}`);
        ks.forEach((k, j) => (results[k] = answer.results![j]));
      } catch {
        // As for a single send: the owner may or may not have taken them; the platform retries each with its key.
        for (const k of ks) failed(k, new GatewayError('retryable', 'owner_unreachable', 'the gateway copy hosting this account did not answer'));
      }
    }),
  );
  return { results };
}

function buildExpressApp(o: WechatyServerOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // Answers are never cached: hashing every body for an ETag is CPU spent on each send for nothing.
  app.set('etag', false);
  app.use((req, _res, next) => {
    if (req.get(API_KEY_HEADER) !== o.apiKey) return next(new GatewayError('permanent', 'unauthorized', 'bad or missing API key'));
    next();
  });
  app.use(express.json({ limit: '1mb' }));

  /** The local session of `:guid`, or the request forwarded to its owner (then undefined). */
  const sessionOf = async (req: Request, res: Response): Promise<WechatySession | undefined> => {
    const guid = req.params.guid as string;
    const where = await o.host.locate(guid);
    if ('missing' in where) throw new GatewayError('permanent', 'instance_not_found', `no instance ${guid}`);
    if ('here' in where) return where.here;
    if (req.get(FORWARDED_HEADER)) throw new GatewayError('retryable', 'ownership_moved', 'the instance is changing owner; try again');
    await forward(req, res, where.remote.url, o.apiKey);
    return undefined;
  };

  app.get('/health', (_req, res) => {
    res.json({ ok: true, sessions: o.host.size });
  });
  app.post('/instances', async (req, res) => {
    const label = typeof req.body?.label === 'string' ? req.body.label.slice(0, 100) : '';
    const guid = await o.host.create(label, req.body?.credentials);
    res.status(201).json({ guid });
  });
  app.post('/instances/status/query', async (req, res) => {
    const guids = req.body?.guids;
    if (!Array.isArray(guids) || guids.length > 1000 || guids.some((g) => typeof g !== 'string')) {
      throw new GatewayError('permanent', 'bad_request', 'guids must be an array of at most 1000 strings');
    }
    res.json({ instances: await statuses(o, guids as string[], Boolean(req.get(FORWARDED_HEADER))) });
  });
  app.put('/instances/:guid/credentials', async (req, res) => {
    if (!(await o.host.updateCredentials(req.params.guid, req.body?.credentials))) throw new GatewayError('permanent', 'instance_not_found', 'no such instance');
    res.status(204).end();
  });
  app.delete('/instances/:guid', async (req, res) => {
    const s = await o.host.locate(req.params.guid).catch(() => undefined);
    if (s && 'remote' in s && !req.get(FORWARDED_HEADER)) return forward(req, res, s.remote.url, o.apiKey);
    await o.host.delete(req.params.guid);
    res.status(204).end();
  });
  app.post('/instances/:guid/login', async (req, res) => {
    const s = await sessionOf(req, res);
    if (!s) return;
    await o.host.setWanted(s.guid, true);
    res.json(await s.startLogin());
  });
  app.get('/instances/:guid/login', async (req, res) => {
    const s = await sessionOf(req, res);
    if (s) res.json(s.progress());
  });
  app.post('/instances/:guid/login/verify', async (req, res) => {
    const code = req.body?.code;
    if (typeof code !== 'string' || !code || code.length > 32) throw new GatewayError('permanent', 'bad_request', 'code required');
    const s = await sessionOf(req, res);
    if (s) res.json(await s.submitVerifyCode(code));
  });
  app.delete('/instances/:guid/login', async (req, res) => {
    const s = await sessionOf(req, res);
    if (!s) return;
    await s.cancelLogin();
    if (s.phase !== 'online') await o.host.setWanted(s.guid, false);
    res.status(204).end();
  });
  app.post('/instances/:guid/logout', async (req, res) => {
    const s = await sessionOf(req, res);
    if (!s) return;
    await s.logout();
    await o.host.setWanted(s.guid, false);
    res.status(204).end();
  });
  app.get('/instances/:guid/status', async (req, res) => {
    const s = await sessionOf(req, res);
    if (s) res.json(s.status());
  });
  app.get('/instances/:guid/conversations', async (req, res) => {
    const s = await sessionOf(req, res);
    if (s) res.json({ conversations: await conversationsOf(s) });
  });
  app.post('/instances/:guid/messages', async (req, res) => {
    const send = checkSend(req.get(IDEMPOTENCY_HEADER), req.body);
    const s = await sessionOf(req, res);
    if (s) res.json(await runSend(o, s, send));
  });
  // Wechaty providers report no delivery receipts: every message the gateway sent stays `sent`.
  app.post('/instances/:guid/messages/status/query', async (req, res) => {
    const ids = req.body?.message_ids;
    if (!Array.isArray(ids) || ids.length > 100 || ids.some((m) => typeof m !== 'string')) {
      throw new GatewayError('permanent', 'bad_request', 'message_ids must be an array of at most 100 strings');
    }
    const s = await sessionOf(req, res);
    if (s) res.json({ messages: (ids as string[]).map((message_id) => ({ message_id, status: 'sent' })) });
  });
  app.post('/instances/:guid/media', () => {
    // Files travel by the platform's file id (read from its storage) or URL, not by upload.
    throw new GatewayError('permanent', 'not_supported', 'upload media to the platform and send its file_id');
  });

  app.use((_req, _res, next) => next(new GatewayError('permanent', 'not_found', 'no such route')));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const a = errorAnswer(err, o.log);
    res.status(a.status).set(a.headers).json(a.body);
  });
  return app;
}

async function conversationsOf(s: WechatySession) {
  const puppet = s.online();
  const [contactIds, roomIds] = await Promise.all([puppet.contactList(), puppet.roomList()]);
  const self = puppet.currentUserId;
  const out = [];
  for (const id of roomIds.slice(0, 5000)) {
    const r = await puppet.roomPayload(id).catch(() => undefined);
    if (r) out.push({ conversation_id: id, name: r.topic ?? '', type: 'group' as const, member_count: r.memberIdList?.length ?? 0, ...(r.avatar ? { avatar_url: r.avatar } : {}) });
  }
  for (const id of contactIds.slice(0, 20000)) {
    if (id === self) continue;
    const c = await puppet.contactPayload(id).catch(() => undefined);
    // Type 1 = individual (official accounts and corporations are not conversations to send to).
    if (c && (c.type === undefined || c.type === 1)) out.push({ conversation_id: id, name: c.alias || c.name || '', type: 'private' as const, member_count: 2, ...(c.avatar ? { avatar_url: c.avatar } : {}) });
  }
  return out;
}

async function statuses(o: WechatyServerOptions, guids: string[], forwarded: boolean): Promise<WireStatus[]> {
  const out: WireStatus[] = [];
  const byOwner = new Map<string, string[]>();
  for (const g of guids) {
    const local = o.host.localSession(g);
    if (local) {
      out.push(local.status());
      continue;
    }
    const where = forwarded ? undefined : await o.host.locate(g).catch(() => undefined);
    if (where && 'here' in where) out.push(where.here.status());
    else if (where && 'remote' in where) byOwner.set(where.remote.url, [...(byOwner.get(where.remote.url) ?? []), g]);
    else out.push({ guid: g, online: false, last_heartbeat: null });
  }
  for (const [url, gs] of byOwner) {
    try {
      const { body } = await postToOwner<{ instances?: WireStatus[] }>(o, url, '/instances/status/query', { guids: gs }, 10_000);
      out.push(...(body.instances ?? gs.map((g) => ({ guid: g, online: false, last_heartbeat: null }))));
    } catch {
      out.push(...gs.map((g) => ({ guid: g, online: false, last_heartbeat: null })));
    }
  }
  return out;
}

/** POSTs a JSON body to another copy, marked as forwarded (so it is never forwarded again); its status and JSON answer. */
async function postToOwner<T>(o: WechatyServerOptions, ownerUrl: string, path: string, body: unknown, timeoutMs: number): Promise<{ statusCode: number; body: T }> {
  const res = await request(`${ownerUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [API_KEY_HEADER]: o.apiKey, [FORWARDED_HEADER]: '1' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { statusCode: res.statusCode, body: (await res.body.json()) as T };
}

/** Sends the request on to the copy that owns the session and relays its answer. */
async function forward(req: Request, res: Response, ownerUrl: string, apiKey: string): Promise<void> {
  try {
    const upstream = await request(`${ownerUrl}${req.originalUrl}`, {
      method: req.method as 'GET',
      headers: {
        [API_KEY_HEADER]: apiKey,
        [FORWARDED_HEADER]: '1',
        'content-type': 'application/json',
        ...(req.get(IDEMPOTENCY_HEADER) ? { [IDEMPOTENCY_HEADER]: req.get(IDEMPOTENCY_HEADER)! } : {}),
      },
      body: req.method === 'GET' || req.method === 'DELETE' ? undefined : JSON.stringify(req.body ?? {}),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await upstream.body.text();
    res.status(upstream.statusCode);
    const retryAfter = upstream.headers['retry-after'];
    if (typeof retryAfter === 'string') res.setHeader('Retry-After', retryAfter);
    if (text) res.type('application/json').send(text);
    else res.end();
  } catch {
    // The owner is unreachable: for a send the outcome is unknown only if it may have arrived there.
    throw new GatewayError('retryable', 'owner_unreachable', 'the gateway copy hosting this account did not answer');
  }
}

export async function listen(app: RequestListener, port: number, host: string): Promise<{ server: Server; url: string }> {
  const server = createServer(app);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return { server, url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${addr.port}` };
}
