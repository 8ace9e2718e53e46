import { Pool } from 'undici';
import { CountClock } from './count-clock';
import { GatewayError, isGatewayError } from './errors';
import {
  API_KEY_HEADER,
  BATCH_SEND_MAX,
  BATCH_SEND_PATH,
  FILE_NAME_HEADER,
  IDEMPOTENCY_HEADER,
  conversationFromWire,
  isBatchError,
  loginStartFromWire,
  messageStatusFromWire,
  progressFromWire,
  statusFromWire,
  type WireBatchResult,
  type WireBatchSend,
  type WireConversation,
  type WireMessageStatus,
  type WireProgress,
  type WireQr,
  type WireStatus,
} from './protocol';
import type {
  GatewayClient,
  GatewayConversation,
  InstanceSpec,
  InstanceStatus,
  LoginProgress,
  LoginStart,
  MessageStatus,
  SendMessageRequest,
  SendMessageResult,
} from './types';

export interface HttpGatewayOptions {
  url: string;
  apiKey: string;
  timeoutMs: number;
  /** Keep-alive connections per gateway origin. */
  connections?: number;
  /**
   * Sends that are ready together (asked in the same event-loop turn) go as one batch request
   * (protocol.ts, `POST /messages/batch`); a lone send goes alone. Off: every send is its own request.
   */
  batchSends?: boolean;
}

/** A gateway that answered the batch route with 404 is asked again after this long (it may be upgraded). */
const BATCH_UNSUPPORTED_RETRY_MS = 5 * 60_000;

interface QueuedSend {
  req: SendMessageRequest;
  resolve: (r: SendMessageResult) => void;
  reject: (err: unknown) => void;
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** Error kinds by gateway error code, for codes whose meaning does not follow from the HTTP status. */
const KIND_BY_CODE: Record<string, GatewayError['kind']> = {
  account_offline: 'account_offline',
  outcome_unknown: 'outcome_unknown',
  instance_offline: 'account_offline',
  // The gateway lost the hosted session (e.g. it restarted): the account is offline, not the message bad.
  instance_not_found: 'account_offline',
  rate_limited: 'rate_limited',
};

/**
 * Maps a gateway error answer to the kind callers act on. Exported so the mapping is testable on its own.
 */
export function errorFromResponse(status: number, body: unknown, retryAfterHeader?: string | string[]): GatewayError {
  const err = (body as { error?: { code?: string; message?: string; retry_after_ms?: number } } | undefined)?.error;
  const code = err?.code ?? `http_${status}`;
  const message = err?.message ?? `gateway answered HTTP ${status}`;
  if (status === 429 || KIND_BY_CODE[code] === 'rate_limited') {
    return new GatewayError('rate_limited', code, message, retryAfterMs(err?.retry_after_ms, retryAfterHeader));
  }
  if (KIND_BY_CODE[code] === 'account_offline') return new GatewayError('account_offline', code, message);
  if (KIND_BY_CODE[code] === 'outcome_unknown') return new GatewayError('outcome_unknown', code, message);
  if (status >= 500 || status === 408) return new GatewayError('retryable', code, message);
  return new GatewayError('permanent', code, message);
}

function retryAfterMs(bodyMs: number | undefined, header?: string | string[]): number {
  if (typeof bodyMs === 'number' && Number.isFinite(bodyMs) && bodyMs >= 0) return bodyMs;
  const h = Array.isArray(header) ? header[0] : header;
  if (h) {
    const secs = Number(h);
    if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
    const at = Date.parse(h);
    if (!Number.isNaN(at)) return Math.max(0, at - Date.now());
  }
  return 1000;
}

/** Transport failures (refused, reset, timeouts) are always worth retrying: the request may not have arrived. */
function errorFromTransport(err: unknown): GatewayError {
  const e = err as { name?: string; code?: string; message?: string };
  const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError' || /TIMEOUT/.test(e.code ?? '');
  return new GatewayError('retryable', timedOut ? 'timeout' : (e.code ?? 'connection_error').toLowerCase(), e.message ?? 'gateway unreachable');
}

/**
 * GatewayClient over the REST protocol in protocol.ts: one keep-alive undici Pool per gateway, every
 * request bounded by the configured timeout, every failure converted to a GatewayError kind.
 */
export class HttpGatewayClient implements GatewayClient {
  readonly baseUrl: string;
  private readonly pool: Pool;
  private readonly basePath: string;
  /** This gateway's clock, seen through its answers (when its limiter counted a send). */
  private readonly countClock = new CountClock();
  /** Sends waiting for the end of this event-loop turn, to leave as one batch. */
  private queued: QueuedSend[] = [];
  private flushScheduled = false;
  /** Until when this gateway is taken not to offer batches (it answered the route with 404). */
  private batchesUnsupportedUntil = 0;

  constructor(private readonly opts: HttpGatewayOptions) {
    const u = new URL(opts.url);
    this.baseUrl = opts.url.replace(/\/+$/, '');
    this.basePath = u.pathname.replace(/\/+$/, '');
    this.pool = new Pool(u.origin, {
      connections: opts.connections ?? 256,
      keepAliveTimeout: 30_000,
      connectTimeout: opts.timeoutMs,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    });
  }

  private async call<T>(
    method: Method,
    path: string,
    opts: { json?: unknown; raw?: Buffer; headers?: Record<string, string> } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { [API_KEY_HEADER]: this.opts.apiKey, accept: 'application/json', ...opts.headers };
    let body: string | Buffer | undefined;
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.raw) {
      body = opts.raw;
    }
    // One deadline for the whole exchange (queueing for a connection included), cleared when it is
    // over: AbortSignal.timeout's timer outlived every request and fired its abort (a DOMException and
    // an event) timeoutMs later, about 5% of a busy worker's CPU.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.opts.timeoutMs);
    let res;
    let text: string;
    try {
      try {
        res = await this.pool.request({ path: this.basePath + path, method, headers, body, signal: deadline.signal });
        text = await res.body.text();
      } catch (err) {
        throw errorFromTransport(err);
      }
    } finally {
      clearTimeout(timer);
    }
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (res.statusCode >= 400) throw errorFromResponse(res.statusCode, parsed, res.headers['retry-after']);
    return parsed as T;
  }

  private static seg(guid: string): string {
    return `/instances/${encodeURIComponent(guid)}`;
  }

  async createInstance(opts: InstanceSpec): Promise<{ guid: string }> {
    return this.call<{ guid: string }>('POST', '/instances', { json: { label: opts.label, credentials: opts.credentials } });
  }

  async updateCredentials(guid: string, credentials: Record<string, unknown>): Promise<void> {
    await this.call('PUT', `${HttpGatewayClient.seg(guid)}/credentials`, { json: { credentials } });
  }

  async deleteInstance(guid: string): Promise<void> {
    await this.call('DELETE', HttpGatewayClient.seg(guid));
  }

  async startLogin(guid: string): Promise<LoginStart> {
    return loginStartFromWire(await this.call<WireQr | WireProgress>('POST', `${HttpGatewayClient.seg(guid)}/login`, { json: {} }));
  }

  async getLoginProgress(guid: string): Promise<LoginProgress> {
    return progressFromWire(await this.call<WireProgress>('GET', `${HttpGatewayClient.seg(guid)}/login`));
  }

  async submitVerifyCode(guid: string, code: string): Promise<LoginProgress> {
    return progressFromWire(await this.call<WireProgress>('POST', `${HttpGatewayClient.seg(guid)}/login/verify`, { json: { code } }));
  }

  async cancelLogin(guid: string): Promise<void> {
    await this.call('DELETE', `${HttpGatewayClient.seg(guid)}/login`);
  }

  async logout(guid: string): Promise<void> {
    await this.call('POST', `${HttpGatewayClient.seg(guid)}/logout`, { json: {} });
  }

  async getStatus(guid: string): Promise<InstanceStatus> {
    return statusFromWire(await this.call<WireStatus>('GET', `${HttpGatewayClient.seg(guid)}/status`));
  }

  async getStatuses(guids: string[]): Promise<InstanceStatus[]> {
    if (guids.length === 0) return [];
    const res = await this.call<{ instances: WireStatus[] }>('POST', '/instances/status/query', { json: { guids } });
    return res.instances.map(statusFromWire);
  }

  async listConversations(guid: string): Promise<GatewayConversation[]> {
    const res = await this.call<{ conversations: WireConversation[] }>('GET', `${HttpGatewayClient.seg(guid)}/conversations`);
    return res.conversations.map(conversationFromWire);
  }

  async sendMessage(req: SendMessageRequest): Promise<SendMessageResult> {
    if (!this.opts.batchSends || Date.now() < this.batchesUnsupportedUntil) return this.sendAlone(req);
    return new Promise<SendMessageResult>((resolve, reject) => {
      this.queued.push({ req, resolve, reject });
      if (this.queued.length >= BATCH_SEND_MAX) this.flush();
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        // setImmediate: after the sends started in this turn (timers, answers) have all queued, no later.
        setImmediate(() => {
          this.flushScheduled = false;
          this.flush();
        });
      }
    });
  }

  private flush(): void {
    const items = this.queued;
    this.queued = [];
    if (items.length === 1) this.sendAlone(items[0].req).then(items[0].resolve, items[0].reject);
    // sendBatch settles every item itself; a throw before its own handling still settles them here.
    else if (items.length > 1) this.sendBatch(items).catch((err: unknown) => items.forEach((it) => it.reject(err)));
  }

  private async sendAlone(req: SendMessageRequest): Promise<SendMessageResult> {
    const res = await this.call<{ message_id: string; duplicate: boolean; counted_at?: unknown }>('POST', `${HttpGatewayClient.seg(req.guid)}/messages`, {
      json: { conversation_id: req.conversationId, content: req.content, idempotency_key: req.idempotencyKey },
      headers: { [IDEMPOTENCY_HEADER]: req.idempotencyKey },
    });
    return this.sendResult(res, Date.now());
  }

  /** Settles every item; never rejects (each item's promise carries its own outcome). */
  private async sendBatch(items: QueuedSend[]): Promise<void> {
    const sends: WireBatchSend[] = items.map(({ req }) => ({ guid: req.guid, idempotency_key: req.idempotencyKey, conversation_id: req.conversationId, content: req.content }));
    let results: WireBatchResult[] | undefined;
    try {
      results = (await this.call<{ results?: WireBatchResult[] }>('POST', BATCH_SEND_PATH, { json: { sends } }))?.results;
    } catch (err) {
      if (isGatewayError(err) && (err.code === 'not_found' || err.code === 'http_404' || err.code === 'http_405')) {
        // A gateway without batches (protocol.ts): nothing was sent; each goes alone, and later ones too.
        this.batchesUnsupportedUntil = Date.now() + BATCH_UNSUPPORTED_RETRY_MS;
        for (const it of items) this.sendAlone(it.req).then(it.resolve, it.reject);
        return;
      }
      // The whole request failed: each send's outcome is open, and the sender retries it with its key.
      for (const it of items) it.reject(err);
      return;
    }
    const answeredAt = Date.now();
    if (!Array.isArray(results) || results.length !== items.length) {
      const err = new GatewayError('retryable', 'bad_batch_answer', 'the gateway answered a batch without one result per send');
      for (const it of items) it.reject(err);
      return;
    }
    for (let k = 0; k < items.length; k++) {
      const r = results[k];
      try {
        if (isBatchError(r)) items[k].reject(errorFromResponse(r.status, r));
        else items[k].resolve(this.sendResult(r, answeredAt));
      } catch (err) {
        items[k].reject(err);
      }
    }
  }

  private sendResult(res: { message_id: string; duplicate: boolean; counted_at?: unknown }, answeredAt: number): SendMessageResult {
    const counted = typeof res.counted_at === 'number' && Number.isFinite(res.counted_at) ? this.countClock.countedBy(res.counted_at, answeredAt) : undefined;
    return counted === undefined ? { gatewayMessageId: res.message_id, duplicate: res.duplicate } : { gatewayMessageId: res.message_id, duplicate: res.duplicate, countedBy: counted };
  }

  async queryMessageStatus(guid: string, messageIds: string[]): Promise<MessageStatus[]> {
    if (messageIds.length === 0) return [];
    const res = await this.call<{ messages: WireMessageStatus[] }>('POST', `${HttpGatewayClient.seg(guid)}/messages/status/query`, { json: { message_ids: messageIds } });
    return res.messages.map(messageStatusFromWire);
  }

  async uploadMedia(guid: string, media: { fileName: string; contentType: string; data: Buffer }): Promise<{ fileId: string }> {
    const res = await this.call<{ file_id: string }>('POST', `${HttpGatewayClient.seg(guid)}/media`, {
      raw: media.data,
      headers: { 'content-type': media.contentType, [FILE_NAME_HEADER]: encodeURIComponent(media.fileName) },
    });
    return { fileId: res.file_id };
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
