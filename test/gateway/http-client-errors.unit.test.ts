import { errorFromResponse } from '../../src/gateway/http-client';
import { GatewayError, isGatewayUnreachable } from '../../src/gateway/errors';

describe('errorFromResponse (mapping without a server)', () => {
  test.each([
    [500, { error: { code: 'boom' } }, undefined, 'retryable', 'boom'],
    [502, undefined, undefined, 'retryable', 'http_502'],
    [408, undefined, undefined, 'retryable', 'http_408'],
    [409, { error: { code: 'account_offline' } }, undefined, 'account_offline', 'account_offline'],
    [404, { error: { code: 'instance_not_found' } }, undefined, 'account_offline', 'instance_not_found'],
    [422, { error: { code: 'content_rejected' } }, undefined, 'permanent', 'content_rejected'],
    [400, undefined, undefined, 'permanent', 'http_400'],
  ])('HTTP %i %j → %s', (status, body, header, kind, code) => {
    const e = errorFromResponse(status as number, body, header as string | undefined);
    expect([e.kind, e.code]).toEqual([kind, code]);
  });

  test('429: retry_after_ms in the body wins, else Retry-After seconds or HTTP date, else 1 s', () => {
    expect(errorFromResponse(429, { error: { code: 'rate_limited', retry_after_ms: 1234 } }, '9').retryAfterMs).toBe(1234);
    expect(errorFromResponse(429, undefined, '3').retryAfterMs).toBe(3000);
    const inTwoSeconds = new Date(Date.now() + 2500).toUTCString();
    const fromDate = errorFromResponse(429, undefined, inTwoSeconds).retryAfterMs!;
    expect(fromDate).toBeGreaterThan(0);
    expect(fromDate).toBeLessThanOrEqual(2500);
    expect(errorFromResponse(429, undefined, undefined)).toMatchObject({ kind: 'rate_limited', retryAfterMs: 1000 });
  });
});

describe('isGatewayUnreachable: the gateway could not take the request, which says nothing about the account', () => {
  test.each(['econnrefused', 'und_err_socket', 'ownership_moved', 'owner_unreachable'])('%s → the account waits', (code) => {
    expect(isGatewayUnreachable(new GatewayError('retryable', code, code))).toBe(true);
  });
  test.each([
    ['retryable', 'timeout'],
    ['retryable', 'http_502'],
    ['permanent', 'ownership_moved'],
  ] as const)('%s %s → an attempt of the message', (kind, code) => {
    expect(isGatewayUnreachable(new GatewayError(kind, code, code))).toBe(false);
  });
});
