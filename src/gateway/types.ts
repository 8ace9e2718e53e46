/**
 * The boundary between this service and a WeCom hosting gateway ("protocol provider"). Each hosted
 * account is a gateway instance identified by `guid`. Everything the service needs from a gateway is
 * here; `http-client.ts` implements it over HTTP and the built-in simulator speaks the same protocol.
 */
export type MessageType = 'text' | 'image' | 'file' | 'link' | 'miniprogram' | 'at' | 'markdown';

export type MessageContent =
  | { type: 'text'; text: string }
  /** WeCom's markdown subset; only app messages of the official channel render it. */
  | { type: 'markdown'; text: string }
  | { type: 'image'; file_id?: string; url?: string }
  | { type: 'file'; file_id?: string; url?: string; file_name?: string }
  | { type: 'link'; title: string; url: string; description?: string; image_url?: string }
  | { type: 'miniprogram'; app_id: string; title: string; page_path: string; thumb_url?: string }
  | { type: 'at'; text: string; user_ids: string[]; at_all?: boolean };

export interface LoginQr {
  /** PNG bytes (base64) of the QR code to scan with the WeCom app. */
  qrPngBase64: string;
  /** What the QR encodes (a login URL). */
  qrContent: string;
  expiresAt: Date;
}

/** Where a login attempt stands on the gateway's side. */
export type LoginProgress =
  | { state: 'waiting_scan'; qrExpiresAt: Date }
  | { state: 'waiting_confirm' }
  | { state: 'need_verify'; reason?: string }
  | { state: 'verify_failed'; reason: 'wrong_code' | 'expired' }
  | { state: 'qr_expired' }
  | { state: 'cancelled' }
  /** `reason`: why no QR was needed (e.g. `official_credentials_valid`: the official API has no QR login). */
  | { state: 'online'; userInfo: Record<string, unknown>; reason?: string }
  | { state: 'offline'; scene?: OfflineScene };

export type OfflineScene = 'logout' | 'kicked' | 'expired' | 'network';

export interface InstanceStatus {
  guid: string;
  online: boolean;
  lastHeartbeat: Date | null;
  userInfo?: Record<string, unknown>;
}

export interface GatewayConversation {
  conversationId: string;
  name: string;
  type: 'private' | 'group';
  memberCount: number;
  avatarUrl?: string;
  lastMessageTime?: Date;
}

export interface SendMessageRequest {
  guid: string;
  conversationId: string;
  content: MessageContent;
  /** The message id: the gateway must not deliver twice for the same key. */
  idempotencyKey: string;
}

export interface SendMessageResult {
  gatewayMessageId: string;
  /** True when the gateway had already accepted this idempotency key (a retried send). */
  duplicate: boolean;
  /**
   * Local time (ms) by which the gateway's rate limiter surely counted this send, when the gateway says
   * when it counted (`counted_at`, src/gateway/count-clock.ts); absent otherwise (then: when the answer came).
   */
  countedBy?: number;
}

/**
 * What the gateway knows of a message it accepted: `delivered` or `failed` (the receipt it sent or
 * would send), `sent` (accepted, no receipt yet) or `unknown` (it has no record of that id).
 */
export interface MessageStatus {
  messageId: string;
  status: 'sent' | 'delivered' | 'failed' | 'unknown';
  errorCode?: string;
  errorMessage?: string;
  /** When the receipt's event happened. */
  at?: Date;
}

/** Message ids asked at most per status query. */
export const MESSAGE_STATUS_QUERY_MAX = 100;

/** What a new instance needs: a label, and for channels with secrets the account's credentials. */
export interface InstanceSpec {
  label?: string;
  /** Channel of the account (routing); gateways ignore it. */
  channel?: string;
  /** Decrypted channel credentials (provider token …); sent to the gateway, never logged. */
  credentials?: Record<string, unknown>;
}

/** A login start answers a QR code to scan, or where the login already is (a session the provider kept). */
export type LoginStart = LoginQr | LoginProgress;
export const isLoginQr = (s: LoginStart): s is LoginQr => typeof (s as LoginQr).qrPngBase64 === 'string';

export interface GatewayClient {
  /** Base URL the client talks to (diagnostics). */
  readonly baseUrl: string;
  createInstance(opts: InstanceSpec): Promise<{ guid: string }>;
  /** Replaces the credentials of an instance (operator rotated the provider token). */
  updateCredentials(guid: string, credentials: Record<string, unknown>): Promise<void>;
  /** Releases the instance (account deleted); succeeds for unknown guids. */
  deleteInstance(guid: string): Promise<void>;
  startLogin(guid: string): Promise<LoginStart>;
  getLoginProgress(guid: string): Promise<LoginProgress>;
  submitVerifyCode(guid: string, code: string): Promise<LoginProgress>;
  cancelLogin(guid: string): Promise<void>;
  logout(guid: string): Promise<void>;
  getStatus(guid: string): Promise<InstanceStatus>;
  /** Status of many instances in one call (heartbeat watchdog); unknown guids come back `online: false`. */
  getStatuses(guids: string[]): Promise<InstanceStatus[]>;
  listConversations(guid: string): Promise<GatewayConversation[]>;
  sendMessage(req: SendMessageRequest): Promise<SendMessageResult>;
  /**
   * Where messages sent through the instance stand, by gateway message id (at most
   * MESSAGE_STATUS_QUERY_MAX): the reconciliation job asks about sends whose receipt never came.
   */
  queryMessageStatus(guid: string, messageIds: string[]): Promise<MessageStatus[]>;
  uploadMedia(guid: string, media: { fileName: string; contentType: string; data: Buffer }): Promise<{ fileId: string }>;
  /** Releases pooled connections. */
  close(): Promise<void>;
}

