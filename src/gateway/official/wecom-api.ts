import { GatewayError } from '../errors';
import { AccessTokens, type TokenOwner } from './access-tokens';
import { classifyErrcode, errorOfErrcode, networkError } from './errcodes';

/**
 * Calls to WeCom's server API (`/cgi-bin/...`) with the access token: every answer's errcode is checked,
 * a token error (40014 / 42001) refreshes the token once for everyone and retries the call once, and
 * every other error becomes a GatewayError of its kind (errcodes.ts).
 */
export interface WecomAnswer {
  errcode: number;
  errmsg: string;
  [k: string]: unknown;
}

export interface WecomCall {
  method: 'GET' | 'POST';
  /** Path below the base, e.g. `/cgi-bin/message/send`. */
  path: string;
  query?: Record<string, string>;
  json?: unknown;
  form?: FormData;
}

export interface WecomApiOptions {
  baseUrl: string;
  timeoutMs: number;
  /** Retry-after of a frequency-limit answer. */
  rateLimitBackoffMs: number;
}

export class WecomApi {
  constructor(
    private readonly opts: WecomApiOptions,
    readonly tokens: AccessTokens,
  ) {}

  /** GET /cgi-bin/gettoken: the fetcher behind the token cache. */
  async fetchToken(owner: TokenOwner): Promise<{ accessToken: string; expiresInSeconds: number }> {
    const a = await this.raw({ method: 'GET', path: '/cgi-bin/gettoken', query: { corpid: owner.corpId, corpsecret: owner.secret } });
    if (a.errcode !== 0) throw errorOfErrcode(a.errcode, a.errmsg, this.opts.rateLimitBackoffMs);
    if (typeof a.access_token !== 'string' || !a.access_token) throw new GatewayError('retryable', 'wecom_bad_answer', 'gettoken answered without access_token');
    return { accessToken: a.access_token, expiresInSeconds: Number(a.expires_in) || 7200 };
  }

  /** One call with the corp's token; the answer when errcode is 0, a GatewayError otherwise. */
  async call(owner: TokenOwner, c: WecomCall): Promise<WecomAnswer> {
    const token = await this.tokens.get(owner);
    let a = await this.raw(c, token);
    if (classifyErrcode(a.errcode) === 'token_expired') {
      const fresh = await this.tokens.refresh(owner, token);
      a = await this.raw(c, fresh);
    }
    if (a.errcode !== 0) throw errorOfErrcode(a.errcode, a.errmsg, this.opts.rateLimitBackoffMs);
    return a;
  }

  /** The HTTP exchange alone: transport failures are retryable GatewayErrors (with the cause kept). */
  async raw(c: WecomCall, accessToken?: string): Promise<WecomAnswer> {
    const url = new URL(this.opts.baseUrl + c.path);
    for (const [k, v] of Object.entries(c.query ?? {})) url.searchParams.set(k, v);
    if (accessToken) url.searchParams.set('access_token', accessToken);
    let res: Response;
    try {
      res = await fetch(url, {
        method: c.method,
        headers: c.json !== undefined ? { 'content-type': 'application/json' } : undefined,
        body: c.form ?? (c.json !== undefined ? JSON.stringify(c.json) : undefined),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
    } catch (err) {
      throw Object.assign(networkError(`${c.method} ${c.path}`, err), { cause: err });
    }
    let body: unknown;
    try {
      body = await res.json();
    } catch (err) {
      throw Object.assign(networkError(`${c.method} ${c.path} answered HTTP ${res.status} without JSON`, err), { cause: err });
    }
    const a = body as Partial<WecomAnswer>;
    if (!a || typeof a !== 'object' || typeof a.errcode !== 'number') {
      if (res.ok && a && typeof a === 'object' && a.errcode === undefined) return { ...(a as object), errcode: 0, errmsg: 'ok' } as WecomAnswer;
      throw new GatewayError('retryable', 'wecom_bad_answer', `${c.method} ${c.path} answered HTTP ${res.status} without errcode`);
    }
    return { ...(a as WecomAnswer), errmsg: String(a.errmsg ?? '') };
  }
}
