import { AppError } from '../errors';
import { isGatewayError } from '../gateway/errors';

/** A gateway failure inside an operator's request, as an API error the client can act on. */
export function gatewayToApiError(err: unknown): unknown {
  if (!isGatewayError(err)) return err;
  switch (err.kind) {
    case 'retryable':
      return new AppError(503, 'gateway_unavailable', `the WeCom gateway is unavailable (${err.code}); try again`, { gateway_code: err.code });
    case 'rate_limited':
      return new AppError(503, 'gateway_rate_limited', 'the WeCom gateway is rate limiting this account', {
        gateway_code: err.code,
        retry_after_ms: err.retryAfterMs,
      });
    case 'account_offline':
      return new AppError(409, 'account_offline', 'the gateway reports this account offline', { gateway_code: err.code });
    case 'permanent':
      return new AppError(502, 'gateway_rejected', `the WeCom gateway refused: ${err.message}`, { gateway_code: err.code });
  }
}

/** Runs a gateway call from a route, converting its failure. */
export async function viaGateway<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw gatewayToApiError(err);
  }
}
