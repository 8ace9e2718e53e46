import type { GatewayConversation, InstanceStatus, LoginProgress, LoginQr, LoginStart, MessageStatus, OfflineScene } from './types';

/**
 * The gateway's REST protocol (JSON over HTTP, API key in `X-Api-Key`), spoken by the HTTP client and
 * the built-in simulator. Snake_case on the wire, camelCase in code; conversions live here only.
 *
 *   POST   /instances                      {label?, credentials?}      → 201 {guid}
 *   PUT    /instances/:guid/credentials    {credentials}               → 204
 *   DELETE /instances/:guid                                            → 204 (also for unknown guids)
 *   POST   /instances/:guid/login                                      → 200 {qr_png_base64, qr_content, expires_at}
 *                                                                         or 200 WireProgress (no QR needed:
 *                                                                         e.g. {state:'online'} when the provider
 *                                                                         kept the session)
 *   GET    /instances/:guid/login                                      → 200 WireProgress
 *   POST   /instances/:guid/login/verify   {code}                      → 200 WireProgress
 *   DELETE /instances/:guid/login                                      → 204
 *   POST   /instances/:guid/logout                                     → 204
 *   GET    /instances/:guid/status                                     → 200 WireStatus
 *   POST   /instances/status/query         {guids: string[]}           → 200 {instances: WireStatus[]}
 *   GET    /instances/:guid/conversations                              → 200 {conversations: WireConversation[]}
 *   POST   /instances/:guid/messages       {conversation_id, content}  + header Idempotency-Key
 *                                                                      → 200 {message_id, duplicate, counted_at?}
 *   POST   /instances/:guid/messages/status/query {message_ids: string[]} (≤ 100)
 *                                                                      → 200 {messages: WireMessageStatus[]}
 *                                                                         one per id asked, in any order
 *   POST   /instances/:guid/media          raw bytes, Content-Type, X-File-Name → 201 {file_id}
 *   POST   /messages/batch                 {sends: WireBatchSend[]} (1 to BATCH_SEND_MAX, any accounts)
 *                                                                      → 200 {results: WireBatchResult[]}
 *                                                                         one per send, in the same order
 *
 * Errors answer `{error: {code, message, retry_after_ms?}}`:
 *   404 instance_not_found → account_offline (the hosted session is gone)
 *   400/404/413/422 → permanent (target_not_found, content_rejected, bad_request …)
 *   409 code account_offline → account offline (also any error code `account_offline`)
 *   429 rate_limited + Retry-After (seconds) and retry_after_ms → rate limited
 *   409 code outcome_unknown → the gateway cannot tell whether an earlier send with this key went out;
 *       it will never send it again (the message ends `unknown`)
 *   5xx → retryable
 *
 * Message status query (issue 8): a gateway gives up on a callback after a few attempts (the service was
 * down, say), so a receipt can be lost on the way. The service asks about messages still `sent` after a
 * while: `delivered`/`failed` (with error_code, error_message) and `at` (ISO time of the event) are the
 * receipt it sent or would send, `sent` means no receipt yet, `unknown` that the gateway has no record
 * of the id (evicted, or never accepted).
 * The Wechaty gateway answers `sent` for every id: Wechaty providers report no delivery receipts.
 *
 * Delivery receipts (callback notify_type 3, issue 17) name the send's Idempotency-Key as
 * `client_msg_id` besides the gateway's `msg_id`: the key is the platform's message id, so the receipt
 * finds its message by primary key, and the gateway's ids need no index on `messages` (an index written
 * at a random place by every send, which outgrew the buffer pool on a million-message task).
 *
 * Send pacing (issue 9): `counted_at` (optional, ms since the epoch on the gateway's clock) is when the
 * gateway's per-account rate limiter counted this send (the simulator: on arrival, before delivery; absent
 * on a duplicate, which takes nothing). A strict limiter (burst 1) refuses a send arriving less than its
 * interval after the previous one it counted, and arrivals vary with transit, so without it the sender
 * must wait an interval after the *answer* (the count happened before it): every round trip then comes
 * out of the rate. With it, the sender waits an interval after the count, bounded on its own clock with
 * no clock sync needed (src/gateway/count-clock.ts). A gateway that omits it keeps the answer rule.
 *
 * Batch send (issue 10): several sends, of one or several accounts, in one request, so the HTTP hop (a
 * request parsed and answered on each side) is paid once per batch rather than once per send. Each item
 * is the single send's body plus its `guid` and `idempotency_key`, and is handled exactly as that single
 * send would be (its own key, deduplication and outcome). Its result is the single send's answer: the
 * 200 body `{message_id, duplicate, counted_at?}`, or `{status, error: {code, message, retry_after_ms?}}`
 * with the HTTP status the single send would have answered (mapped back the same way). The request as a
 * whole answers 401 (API key) or 400 (`sends` not an array of 1 to BATCH_SEND_MAX objects); a transport
 * failure or 5xx of the whole request leaves every item's outcome open, and the sender retries each with
 * its key. Optional: a gateway without the route answers 404 `not_found`, and the client falls back to
 * single sends (it asks again after a while). The client batches the sends that are ready together (the
 * scheduler sends many accounts' messages concurrently), and only for gateways configured to
 * (`WECHATY_BATCH_SENDS`, `GATEWAY_BATCH_SENDS`), so a quiet account's send never waits for a batch.
 *
 * Changes for channels (issue 10): `credentials` on create and PUT …/credentials (gateways that need no
 * secrets, like the simulator, accept and ignore them); a login start may answer progress instead of a
 * QR; `outcome_unknown`; callback 7 may carry `{state:'qr_refreshed', qr_png_base64, qr_content,
 * expires_at}` when the provider replaced a timed-out QR within the same attempt.
 */
export const API_KEY_HEADER = 'x-api-key';
export const IDEMPOTENCY_HEADER = 'idempotency-key';
export const FILE_NAME_HEADER = 'x-file-name';

export const BATCH_SEND_PATH = '/messages/batch';
/** Sends per batch request at most. */
export const BATCH_SEND_MAX = 100;

/** One send of a batch: the single send's body with its account and key. */
export interface WireBatchSend {
  guid: string;
  idempotency_key: string;
  conversation_id: string;
  content: unknown;
}

/** What one send of a batch answered: the single send's 200 body, or its error answer with its status. */
export type WireBatchResult =
  | { message_id: string; duplicate: boolean; counted_at?: number }
  | { status: number; error: { code: string; message: string; retry_after_ms?: number } };

export const isBatchError = (r: WireBatchResult): r is Extract<WireBatchResult, { error: unknown }> => (r as { error?: unknown }).error !== undefined;

export interface WireQr {
  qr_png_base64: string;
  qr_content: string;
  expires_at: string;
}

export type WireProgress =
  | { state: 'waiting_scan'; qr_expires_at: string }
  | { state: 'waiting_confirm' }
  | { state: 'need_verify'; reason?: string }
  | { state: 'verify_failed'; reason: 'wrong_code' | 'expired' }
  | { state: 'qr_expired' }
  | { state: 'cancelled' }
  | { state: 'online'; user_info: Record<string, unknown> }
  | { state: 'offline'; scene?: OfflineScene };

export interface WireStatus {
  guid: string;
  online: boolean;
  last_heartbeat: string | null;
  user_info?: Record<string, unknown>;
}

export interface WireConversation {
  conversation_id: string;
  name: string;
  type: 'private' | 'group';
  member_count: number;
  avatar_url?: string;
  last_message_time?: string;
}

export const loginStartFromWire = (w: WireQr | WireProgress): LoginStart =>
  typeof (w as WireQr).qr_png_base64 === 'string' ? qrFromWire(w as WireQr) : progressFromWire(w as WireProgress);

export const qrFromWire = (w: WireQr): LoginQr => ({
  qrPngBase64: w.qr_png_base64,
  qrContent: w.qr_content,
  expiresAt: new Date(w.expires_at),
});

export function progressFromWire(w: WireProgress): LoginProgress {
  switch (w.state) {
    case 'waiting_scan':
      return { state: 'waiting_scan', qrExpiresAt: new Date(w.qr_expires_at) };
    case 'online':
      return { state: 'online', userInfo: w.user_info ?? {} };
    default:
      return w as LoginProgress;
  }
}

export function progressToWire(p: LoginProgress): WireProgress {
  switch (p.state) {
    case 'waiting_scan':
      return { state: 'waiting_scan', qr_expires_at: p.qrExpiresAt.toISOString() };
    case 'online':
      return { state: 'online', user_info: p.userInfo };
    default:
      return p as WireProgress;
  }
}

export interface WireMessageStatus {
  message_id: string;
  status: 'sent' | 'delivered' | 'failed' | 'unknown';
  error_code?: string;
  error_message?: string;
  at?: string;
}

export const messageStatusFromWire = (w: WireMessageStatus): MessageStatus => ({
  messageId: w.message_id,
  status: w.status,
  errorCode: w.error_code,
  errorMessage: w.error_message,
  at: w.at ? new Date(w.at) : undefined,
});

export const statusFromWire = (w: WireStatus): InstanceStatus => ({
  guid: w.guid,
  online: w.online,
  lastHeartbeat: w.last_heartbeat ? new Date(w.last_heartbeat) : null,
  userInfo: w.user_info,
});

export const conversationFromWire = (w: WireConversation): GatewayConversation => ({
  conversationId: w.conversation_id,
  name: w.name,
  type: w.type,
  memberCount: w.member_count,
  avatarUrl: w.avatar_url,
  lastMessageTime: w.last_message_time ? new Date(w.last_message_time) : undefined,
});
