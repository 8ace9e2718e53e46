/**
 * Gateway failures, mapped to what the caller should do about them. The HTTP client converts every
 * transport error and gateway error answer into one of these kinds.
 */
/** `outcome_unknown`: an earlier send with the same key may or may not have gone out, and will not be repeated. */
export type GatewayErrorKind = 'retryable' | 'rate_limited' | 'account_offline' | 'permanent' | 'outcome_unknown';

export class GatewayError extends Error {
  constructor(
    readonly kind: GatewayErrorKind,
    /** Gateway's machine-readable code (e.g. `target_not_found`, `content_rejected`, `timeout`). */
    readonly code: string,
    message: string,
    /** For rate_limited: how long to wait before trying this account again. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'GatewayError';
  }
}

export const isGatewayError = (err: unknown): err is GatewayError => err instanceof GatewayError;

/**
 * Codes of a gateway that could not take the request at all. Transport codes (lower-cased, as the HTTP
 * client reports them): down, restarting, or the connection cut before an answer. Gateway codes of a
 * copy handing an account over to another copy (`ownership_moved`: the instance is changing owner;
 * `owner_unreachable`: the copy that hosted it was killed and nobody has taken it yet). Unlike a timeout,
 * these say nothing about the account: the sender treats it as unreachable for now and its messages
 * wait (no attempt spent, no error streak).
 */
const UNREACHABLE_CODES = new Set([
  'econnrefused',
  'econnreset',
  'epipe',
  'und_err_socket',
  'ehostunreach',
  'enetunreach',
  'connection_error',
  'ownership_moved',
  'owner_unreachable',
]);

export const isGatewayUnreachable = (err: unknown): boolean => isGatewayError(err) && err.kind === 'retryable' && UNREACHABLE_CODES.has(err.code);
