import type { IncomingMessage } from '../callback-protocol';
import { GatewayError } from '../errors';
import type { OfflineScene } from '../types';

/**
 * Pure translations between Wechaty Puppet Service and the platform's gateway protocol: scan statuses
 * to login progress, puppet errors to gateway error kinds (and whether a failed send may have gone out),
 * puppet messages to incoming-message callbacks. No I/O here.
 */

/** wechaty-puppet's ScanStatus (1.x: 0 = Unknown). */
export const SCAN = { Unknown: 0, Cancel: 1, Waiting: 2, Scanned: 3, Confirmed: 4, Timeout: 5 } as const;

/** The juzi fork's VerifyCodeStatus. */
export const VERIFY = { Unknown: 0, Waiting: 1, Expired: 2, WrongCode: 3 } as const;

/** What a scan event means for the login attempt. */
export type ScanStep =
  | { step: 'qr'; content: string }
  | { step: 'scanned' }
  | { step: 'confirmed' }
  | { step: 'expired' }
  | { step: 'cancelled' }
  | { step: 'ignore' };

export function scanStep(status: number, qrcode: string | undefined): ScanStep {
  switch (status) {
    case SCAN.Waiting:
      return qrcode ? { step: 'qr', content: qrcode } : { step: 'ignore' };
    case SCAN.Scanned:
      return { step: 'scanned' };
    case SCAN.Confirmed:
      return { step: 'confirmed' };
    case SCAN.Timeout:
      return { step: 'expired' };
    case SCAN.Cancel:
      return { step: 'cancelled' };
    default:
      // Unknown: some providers send the first QR with status 0.
      return qrcode ? { step: 'qr', content: qrcode } : { step: 'ignore' };
  }
}

/** gRPC status codes (grpc-js `status`), the ones the mapping tells apart. */
const GRPC = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** A puppet error as thrown: an Error with a gRPC `code`, or a plain `{gerror}` object. */
export function describeError(err: unknown): { code?: number; message: string } {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; details?: unknown; message?: unknown; gerror?: unknown };
    const code = typeof e.code === 'number' ? e.code : undefined;
    if (typeof e.details === 'string' && e.details) return { code, message: e.details };
    if (typeof e.message === 'string' && e.message) return { code, message: e.message };
    if (typeof e.gerror === 'string') {
      try {
        const g = JSON.parse(e.gerror) as { code?: number; details?: string; message?: string };
        return { code: typeof g.code === 'number' ? g.code : code, message: g.details ?? g.message ?? e.gerror };
      } catch {
        return { code, message: e.gerror };
      }
    }
  }
  return { message: String(err) };
}

/** How a failed send ended, for the send ledger. */
export type SendFailure =
  /** The provider answered: the message was not sent; a retry may send it. */
  | { sent: 'no'; error: GatewayError }
  /** The call may have reached the provider and the answer was lost: never send it again. */
  | { sent: 'maybe'; error: GatewayError };

const RATE = /rate|frequen|too many|throttl|频繁|限流|过快/i;
const RISK = /risk|banned|blocked|restricted|风控|封|违规/i;
const OFFLINE = /not logged in|not login|logged out|offline|未登录|掉线/i;
const NOT_FOUND = /not found|no such|unknown (contact|room)|不存在/i;

/**
 * Maps an error from a puppet call to the platform's error kinds. `sent` tells whether a send may have
 * gone out: only a transport failure after the call left (deadline, a stream cut mid-call) leaves it in
 * doubt; an answer from the provider, or a connection that was never made, means it was not sent.
 */
export function classifySendError(err: unknown): SendFailure {
  const { code, message } = describeError(err);
  const text = message.slice(0, 300);
  switch (code) {
    case GRPC.UNAVAILABLE:
      // grpc-js fails a call on a channel that has no connection before sending anything.
      if (/no connection established|connection refused|ECONNREFUSED|failed to connect/i.test(text)) {
        return { sent: 'no', error: new GatewayError('account_offline', 'provider_unreachable', text) };
      }
      return { sent: 'maybe', error: new GatewayError('outcome_unknown', 'outcome_unknown', `connection lost during the send: ${text}`) };
    case GRPC.DEADLINE_EXCEEDED:
    case GRPC.CANCELLED:
    case GRPC.INTERNAL:
      return { sent: 'maybe', error: new GatewayError('outcome_unknown', 'outcome_unknown', `no answer from the provider: ${text}`) };
    case GRPC.UNAUTHENTICATED:
    case GRPC.PERMISSION_DENIED:
      return { sent: 'no', error: new GatewayError('account_offline', 'token_refused', 'the provider refused the token') };
    case GRPC.RESOURCE_EXHAUSTED:
      return { sent: 'no', error: new GatewayError('rate_limited', 'rate_limited', text, 60_000) };
    case GRPC.NOT_FOUND:
      return { sent: 'no', error: new GatewayError('permanent', 'target_not_found', text) };
    case GRPC.INVALID_ARGUMENT:
      return { sent: 'no', error: new GatewayError('permanent', 'content_rejected', text) };
    case GRPC.UNIMPLEMENTED:
      return { sent: 'no', error: new GatewayError('permanent', 'unsupported_by_provider', text) };
    default:
      break;
  }
  // The provider's puppet threw (gRPC UNKNOWN / FAILED_PRECONDITION …): an answer, so nothing was sent.
  if (RATE.test(text)) return { sent: 'no', error: new GatewayError('rate_limited', 'rate_limited', text, 60_000) };
  if (RISK.test(text)) return { sent: 'no', error: new GatewayError('permanent', 'risk_control', text) };
  if (OFFLINE.test(text)) return { sent: 'no', error: new GatewayError('account_offline', 'account_offline', text) };
  if (NOT_FOUND.test(text)) return { sent: 'no', error: new GatewayError('permanent', 'target_not_found', text) };
  if (code === undefined) return { sent: 'maybe', error: new GatewayError('outcome_unknown', 'outcome_unknown', text) };
  return { sent: 'no', error: new GatewayError('retryable', 'provider_error', text) };
}

/** Whether a start() failure means the provider refused the credentials (no retry storm: stop trying). */
export function isTokenRefusal(err: unknown): boolean {
  const { code, message } = describeError(err);
  return code === GRPC.UNAUTHENTICATED || code === GRPC.PERMISSION_DENIED || /unauthenticated|invalid token|token.*(invalid|expired|refused)|auth/i.test(message);
}

/** The scene of a provider-side logout. */
export function logoutScene(reason: string | undefined, requested: boolean): OfflineScene {
  if (requested) return 'logout';
  if (reason && /expire/i.test(reason)) return 'expired';
  return 'kicked';
}

/** The subset of a puppet message payload the mapping reads (wechaty-puppet 1.x names). */
export interface PuppetMessage {
  id: string;
  type: number;
  text?: string;
  talkerId?: string;
  listenerId?: string;
  roomId?: string;
  timestamp: number;
  mentionIdList?: string[];
}

/** wechaty-puppet MessageType names by number (the ones worth a preview). */
const MESSAGE_TYPE: Record<number, string> = {
  1: 'attachment',
  2: 'audio',
  3: 'contact',
  4: 'chat_history',
  5: 'emoticon',
  6: 'image',
  7: 'text',
  8: 'location',
  9: 'mini_program',
  11: 'transfer',
  12: 'red_envelope',
  13: 'recalled',
  14: 'url',
  15: 'video',
};

/**
 * An incoming puppet message as a notify-3 entry; undefined for the account's own messages (sends echoed
 * back by the provider) and messages without a conversation.
 */
export function incomingFromPuppet(m: PuppetMessage, selfId: string | undefined): IncomingMessage | undefined {
  if (selfId && m.talkerId === selfId) return undefined;
  const conversation = m.roomId || m.talkerId;
  if (!conversation) return undefined;
  const type = MESSAGE_TYPE[m.type] ?? 'unknown';
  return {
    kind: 'incoming',
    conversation_id: conversation,
    conversation_type: m.roomId ? 'group' : 'private',
    sender_id: m.talkerId ?? '',
    msg_id: m.id,
    content: type === 'text' ? { type: 'text', text: m.text ?? '', ...(m.mentionIdList?.length ? { mention_ids: m.mentionIdList } : {}) } : { type, ...(m.text ? { text: m.text } : {}) },
    sent_at: m.timestamp,
  };
}

/** Backoff of the gateway's own reconnection loop: base·2ⁿ capped, with ±20 % jitter so many sessions spread out. */
export function reconnectDelayMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const d = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(0, attempt), 20));
  return Math.round(d * (0.8 + 0.4 * random()));
}
