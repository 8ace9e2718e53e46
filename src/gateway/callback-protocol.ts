import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Wire format of gateway callbacks (modelled on real WeCom device gateways), POSTed as JSON:
 *   { "event_id": "<unique per event>", "guid": "<instance>", "notify_type": <int>, "payload": {...}, "timestamp": <unix s> }
 * Signed with HMAC-SHA256 over `${timestamp}.${rawBody}` using the shared callback secret:
 *   X-Gateway-Timestamp: <unix seconds>
 *   X-Gateway-Signature: sha256=<hex>
 * New event kinds get new numbers; existing numbers are never overloaded.
 */
export const NOTIFY = {
  /** payload: { user_info } */
  online: 1,
  /** payload: { scene: 'logout' | 'kicked' | 'expired' | 'network', reason? } */
  offline: 2,
  /** payload: { messages: Array<IncomingMessage | DeliveryReceipt> } */
  messages: 3,
  friendRequest: 4,
  contactChange: 5,
  groupChange: 6,
  /** payload: { state: 'waiting_confirm' | 'need_verify' | 'verify_failed' | 'qr_expired' | 'qr_refreshed', reason? } */
  loginProgress: 7,
  /** Not from the gateway: a decrypted WeCom official callback (WXBizMsgCrypt); payload is the XML as an object. */
  wecomOfficial: 100,
} as const;

export type NotifyType = (typeof NOTIFY)[keyof typeof NOTIFY];

export const EVENT_TYPE_BY_NOTIFY: Record<number, string> = {
  1: 'account.online',
  2: 'account.offline',
  3: 'messages',
  4: 'friend.request',
  5: 'contact.change',
  6: 'group.change',
  7: 'account.login_progress',
  100: 'wecom.official',
};

export interface IncomingMessage {
  kind: 'incoming';
  conversation_id: string;
  conversation_type: 'private' | 'group';
  sender_id: string;
  msg_id: string;
  content: unknown;
  sent_at: number;
}

export interface DeliveryReceipt {
  kind: 'receipt';
  /** The gateway message id returned by sendMessage (messages.wework_msg_id). */
  msg_id: string;
  /**
   * The idempotency key the send carried, which is the platform's message id: the receipt's message is
   * found by primary key. A receipt without it is matched by `msg_id` among the account's messages still
   * `sent` (a slower scan, and one that cannot keep a receipt that overtakes the status write; the
   * reconciliation job asks about those later), so gateways should always send it.
   */
  client_msg_id?: string;
  status: 'delivered' | 'failed';
  error_code?: string;
  error_message?: string;
  at: number;
}

export interface GatewayCallback {
  event_id: string;
  guid: string;
  notify_type: number;
  payload: Record<string, unknown>;
  timestamp: number;
}

export const SIGNATURE_HEADER = 'x-gateway-signature';
export const TIMESTAMP_HEADER = 'x-gateway-timestamp';

export function signCallback(secret: string, timestamp: number, rawBody: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex')}`;
}

export type SignatureCheck = 'ok' | 'missing' | 'stale' | 'bad_signature';

/**
 * The header-only part of the check (presence, timestamp tolerance), so a receiver can refuse unsigned
 * or stale requests before reading their bodies.
 */
export function checkCallbackHeaders(
  headers: { signature?: string; timestamp?: string },
  toleranceSeconds: number,
  nowSeconds = Math.floor(Date.now() / 1000),
): 'ok' | 'missing' | 'stale' {
  if (!headers.signature || !headers.timestamp) return 'missing';
  const ts = Number(headers.timestamp);
  if (!Number.isInteger(ts)) return 'missing';
  if (Math.abs(nowSeconds - ts) > toleranceSeconds) return 'stale';
  return 'ok';
}

/** Constant-time check of a callback's signature and timestamp tolerance. */
export function verifyCallbackSignature(
  secret: string,
  rawBody: Buffer,
  headers: { signature?: string; timestamp?: string },
  toleranceSeconds: number,
  nowSeconds = Math.floor(Date.now() / 1000),
): SignatureCheck {
  const pre = checkCallbackHeaders(headers, toleranceSeconds, nowSeconds);
  if (pre !== 'ok') return pre;
  const ts = Number(headers.timestamp);
  if (!headers.signature) return 'missing';
  const expected = Buffer.from(signCallback(secret, ts, rawBody));
  const given = Buffer.from(headers.signature);
  return expected.length === given.length && timingSafeEqual(expected, given) ? 'ok' : 'bad_signature';
}
