import { GatewayError } from '../errors';

/**
 * WeCom's global return codes (developer.work.weixin.qq.com, 全局错误码), sorted into what the platform
 * does about them. Pure: the API client asks `classifyErrcode` and builds the error with `errorOfErrcode`.
 */

/** The access token is no longer valid: refresh it (once, across processes) and retry the call once. */
export const TOKEN_ERRCODES: ReadonlySet<number> = new Set([40014, 42001]);
/** Frequency limits: 45009 API calls over the limit, 45033 concurrent calls over the limit, 45035 node calls over the limit. */
export const RATE_LIMIT_ERRCODES: ReadonlySet<number> = new Set([45009, 45033, 45035]);
/** The account cannot work until an administrator acts (the server's IP is not trusted). */
export const ACCOUNT_ERRCODES: ReadonlySet<number> = new Set([60020]);
/** Credentials that will never work as they are: the login ends in error, not in retries. */
export const CREDENTIAL_ERRCODES: ReadonlySet<number> = new Set([40001, 40013, 40056, 40091, 301002, 41002, 41004]);

export type ErrcodeClass = 'ok' | 'token_expired' | 'rate_limited' | 'account' | 'retryable' | 'permanent';

export function classifyErrcode(errcode: number): ErrcodeClass {
  if (errcode === 0) return 'ok';
  if (errcode === -1) return 'retryable'; // 系统繁忙: try again later
  if (TOKEN_ERRCODES.has(errcode)) return 'token_expired';
  if (RATE_LIMIT_ERRCODES.has(errcode)) return 'rate_limited';
  if (ACCOUNT_ERRCODES.has(errcode)) return 'account';
  return 'permanent';
}

/** Plain words for the codes an operator has to act on; the errmsg itself is kept beside them. */
const PLAIN: Record<number, string> = {
  60020: "this server's IP address is not in the app's trusted IP list (企业可信IP); an administrator must add it in the WeCom admin console under the app's settings",
  40001: 'the app secret is wrong (不合法的secret参数)',
  40013: 'the corp id is wrong (不合法的CorpID)',
  40056: 'the agent id is wrong (不合法的agentid)',
  301002: 'the app has no permission for this call (check its visible range and API permissions)',
  45009: 'WeCom frequency limit reached for this API (接口调用超过限制)',
  45033: 'WeCom concurrent call limit reached (接口并发调用超过限制)',
  45035: 'WeCom node call limit reached',
};

/** The code a message keeps: `wecom_<errcode>` (machine-readable, stable across errmsg rewordings). */
export const errorCodeOf = (errcode: number) => `wecom_${errcode}`;

/**
 * A WeCom error answer as a GatewayError of the right kind. The message keeps errcode and errmsg
 * (`errcode 60020: not allow to access from your ip …`), preceded by plain words when we have them.
 */
export function errorOfErrcode(errcode: number, errmsg: string, backoffMs: number): GatewayError {
  const words = PLAIN[errcode];
  const message = `${words ? `${words}; ` : ''}errcode ${errcode}: ${errmsg}`.slice(0, 1000);
  switch (classifyErrcode(errcode)) {
    case 'rate_limited':
      return new GatewayError('rate_limited', errorCodeOf(errcode), message, backoffMs);
    case 'account':
      // Messages wait (requeued, not failed) while the account is out of order.
      return new GatewayError('account_offline', errorCodeOf(errcode), message);
    case 'retryable':
    case 'token_expired': // a second token error right after a refresh: try later
      return new GatewayError('retryable', errorCodeOf(errcode), message);
    default:
      return new GatewayError('permanent', errorCodeOf(errcode), message);
  }
}

/** A transport failure (no answer, bad answer): retryable. */
export function networkError(what: string, err: unknown): GatewayError {
  const cause = (err as { cause?: { code?: string } })?.cause?.code ?? (err as { name?: string })?.name ?? 'error';
  return new GatewayError('retryable', 'wecom_network', `${what}: ${cause}: ${(err as Error)?.message ?? String(err)}`.slice(0, 500));
}

/** Whether a transport failure happened before the request could reach WeCom (so nothing was sent). */
export function failedBeforeSending(err: unknown): boolean {
  const code = (err as { cause?: { code?: string } })?.cause?.code;
  return code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'UND_ERR_CONNECT_TIMEOUT';
}
