import { classifySendError, incomingFromPuppet, isTokenRefusal, logoutScene, reconnectDelayMs, scanStep, SCAN } from '../../src/gateway/wechaty/mapping';

/** The pure translations of the Wechaty gateway: scan statuses, errors, incoming messages, backoff. */

test('scan statuses map to login steps; a QR needs its content', () => {
  expect(scanStep(SCAN.Waiting, 'https://qr/1')).toEqual({ step: 'qr', content: 'https://qr/1' });
  expect(scanStep(SCAN.Waiting, undefined)).toEqual({ step: 'ignore' });
  expect(scanStep(SCAN.Unknown, 'https://qr/2')).toEqual({ step: 'qr', content: 'https://qr/2' });
  expect(scanStep(SCAN.Unknown, undefined)).toEqual({ step: 'ignore' });
  expect(scanStep(SCAN.Scanned, undefined)).toEqual({ step: 'scanned' });
  expect(scanStep(SCAN.Confirmed, undefined)).toEqual({ step: 'confirmed' });
  expect(scanStep(SCAN.Timeout, undefined)).toEqual({ step: 'expired' });
  expect(scanStep(SCAN.Cancel, undefined)).toEqual({ step: 'cancelled' });
});

test('send errors: an answer from the provider means not sent; a lost answer means in doubt', () => {
  const grpc = (code: number, details: string) => Object.assign(new Error(details), { code, details });
  expect(classifySendError(grpc(14, 'No connection established. Last error: connect ECONNREFUSED'))).toMatchObject({ sent: 'no', error: { kind: 'account_offline' } });
  expect(classifySendError(grpc(14, 'Connection dropped'))).toMatchObject({ sent: 'maybe', error: { kind: 'outcome_unknown' } });
  expect(classifySendError(grpc(4, 'Deadline exceeded'))).toMatchObject({ sent: 'maybe', error: { kind: 'outcome_unknown' } });
  expect(classifySendError(grpc(8, 'quota'))).toMatchObject({ sent: 'no', error: { kind: 'rate_limited', retryAfterMs: 60_000 } });
  expect(classifySendError(grpc(16, 'bad token'))).toMatchObject({ sent: 'no', error: { kind: 'account_offline', code: 'token_refused' } });
  expect(classifySendError(grpc(5, 'no such contact'))).toMatchObject({ sent: 'no', error: { kind: 'permanent', code: 'target_not_found' } });
  expect(classifySendError(grpc(12, 'unimplemented'))).toMatchObject({ sent: 'no', error: { kind: 'permanent', code: 'unsupported_by_provider' } });
  // The provider's puppet threw (gRPC UNKNOWN): classified by what it says.
  expect(classifySendError(grpc(2, '发送过于频繁'))).toMatchObject({ sent: 'no', error: { kind: 'rate_limited' } });
  expect(classifySendError(grpc(2, 'account restricted by risk control'))).toMatchObject({ sent: 'no', error: { kind: 'permanent', code: 'risk_control' } });
  expect(classifySendError(grpc(2, 'not logged in'))).toMatchObject({ sent: 'no', error: { kind: 'account_offline' } });
  expect(classifySendError(grpc(2, 'something odd'))).toMatchObject({ sent: 'no', error: { kind: 'retryable', code: 'provider_error' } });
  // A plain {gerror} object, as the client sometimes throws.
  expect(classifySendError({ gerror: JSON.stringify({ code: 4, details: 'timeout' }) })).toMatchObject({ sent: 'maybe' });
  // Something that is not a gRPC answer at all: nobody can say it was not sent.
  expect(classifySendError(new Error('socket hang up'))).toMatchObject({ sent: 'maybe', error: { kind: 'outcome_unknown' } });
});

test('token refusals are recognised; other start failures are not', () => {
  expect(isTokenRefusal(Object.assign(new Error('x'), { code: 16 }))).toBe(true);
  expect(isTokenRefusal(new Error('invalid token'))).toBe(true);
  expect(isTokenRefusal(Object.assign(new Error('No connection established'), { code: 14 }))).toBe(false);
});

test('logout scenes: requested is logout, expiry is expired, anything else kicked', () => {
  expect(logoutScene('whatever', true)).toBe('logout');
  expect(logoutScene('session expired', false)).toBe('expired');
  expect(logoutScene('logged out on the phone', false)).toBe('kicked');
  expect(logoutScene(undefined, false)).toBe('kicked');
});

test('incoming messages: direct and room conversations, the account’s own messages dropped', () => {
  const base = { id: 'm1', type: 7, text: 'hi', talkerId: 'alice', listenerId: 'me', timestamp: 1_700_000_000_000 };
  expect(incomingFromPuppet(base, 'me')).toEqual({
    kind: 'incoming',
    conversation_id: 'alice',
    conversation_type: 'private',
    sender_id: 'alice',
    msg_id: 'm1',
    content: { type: 'text', text: 'hi' },
    sent_at: 1_700_000_000_000,
  });
  expect(incomingFromPuppet({ ...base, roomId: 'r@chatroom', mentionIdList: ['me'] }, 'me')).toMatchObject({
    conversation_id: 'r@chatroom',
    conversation_type: 'group',
    content: { type: 'text', text: 'hi', mention_ids: ['me'] },
  });
  expect(incomingFromPuppet({ ...base, type: 6, text: undefined }, 'me')).toMatchObject({ content: { type: 'image' } });
  expect(incomingFromPuppet({ ...base, talkerId: 'me' }, 'me')).toBeUndefined();
  expect(incomingFromPuppet({ ...base, talkerId: undefined }, 'me')).toBeUndefined();
});

test('reconnect backoff doubles from the base, is capped, and spreads by ±20 %', () => {
  const mid = () => 0.5;
  expect([0, 1, 2, 3, 10].map((n) => reconnectDelayMs(n, 1000, 6000, mid))).toEqual([1000, 2000, 4000, 6000, 6000]);
  expect(reconnectDelayMs(0, 1000, 6000, () => 0)).toBe(800);
  expect(reconnectDelayMs(0, 1000, 6000, () => 0.999999)).toBe(1200);
});
