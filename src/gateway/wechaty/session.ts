import type { Logger } from 'pino';
import type { WechatyCredentials } from '../../channels/channels';
import { NOTIFY } from '../callback-protocol';
import { GatewayError } from '../errors';
import type { WireProgress, WireQr, WireStatus } from '../protocol';
import { renderQrPng } from '../qr-png';
import { VERIFY, describeError, incomingFromPuppet, isTokenRefusal, logoutScene, reconnectDelayMs, scanStep } from './mapping';
import { createPuppet, detachPuppet, type PuppetLike } from './puppet-client';

/**
 * One hosted account: a PuppetService client connected with the account's provider token, its login
 * steps as the platform sees them, and the gateway-owned reconnection (the client has none of its own).
 * Every puppet event becomes a state change and, where the platform cares, a callback.
 *
 * A client generation number guards every listener: events of a client the session has already dropped
 * (reconnect, close) are ignored.
 */
export interface SessionSettings {
  loginWaitMs: number;
  sendTimeoutMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  /** No event (heartbeat, dong, anything) for this long: the stream is dead, reconnect. */
  heartbeatTimeoutMs: number;
  /** How often the gateway pings the provider (ding → dong) to keep heartbeats coming. */
  keepaliveMs: number;
  /** Lifetime of a QR whose provider gives none. */
  qrTtlMs: number;
  /** After a QR timeout, how long to wait for the provider's fresh QR before reporting the expiry. */
  qrRefreshGraceMs: number;
  startTimeoutMs: number;
}

export type Phase =
  | 'stopped'
  | 'connecting'
  | 'connected'
  | 'waiting_scan'
  | 'waiting_confirm'
  | 'need_verify'
  | 'online'
  | 'offline'
  | 'qr_expired'
  | 'cancelled'
  | 'refused';

export type Notify = (notifyType: number, payload: Record<string, unknown>) => void;

interface Qr {
  content: string;
  pngBase64: string;
  expiresAt: number;
}

export class WechatySession {
  phase: Phase = 'stopped';
  private puppet?: PuppetLike;
  private generation = 0;
  private qr?: Qr;
  private verifyId?: string;
  /** Counts verify-code answers (events and logins), so a submitted code can wait for its verdict. */
  private verifyAnswers = 0;
  private lastVerifyVerdict?: 'wrong_code' | 'expired';
  private userInfo?: Record<string, unknown>;
  private selfId?: string;
  private lastHeartbeat: number | null = null;
  private lastEventAt = 0;
  private reconnectAttempt = 0;
  private reconnectTimer?: NodeJS.Timeout;
  private keepaliveTimer?: NodeJS.Timeout;
  private qrGraceTimer?: NodeJS.Timeout;
  /** A QR timeout is final once the grace period passed without a fresh QR (until then polls see waiting_scan). */
  private qrExpiryFinal = false;
  private refusedReason?: string;
  private logoutRequested = false;
  private closed = false;
  private connectInFlight = false;
  /** The previous client being taken down; a new one waits for it (they share cache directories). */
  private detaching: Promise<void> = Promise.resolve();
  private readonly waiters = new Set<() => void>();
  /** Sends in flight by idempotency key: a repeat of the key while the first runs waits for it. */
  readonly inflight = new Map<string, Promise<{ messageId: string; duplicate: boolean }>>();

  constructor(
    readonly guid: string,
    private credentials: WechatyCredentials,
    private readonly settings: SessionSettings,
    private readonly notify: Notify,
    private readonly log: Logger,
  ) {}

  // ---- lifecycle ---------------------------------------------------------------------------------

  /** Connects if not connected (or connecting); failures are retried with backoff in the background. */
  ensureConnected(): void {
    if (this.closed || this.puppet || this.reconnectTimer || this.connectInFlight) return;
    if (this.phase === 'refused') return;
    void this.connect();
  }

  private async connect(): Promise<void> {
    this.connectInFlight = true;
    try {
      await this.connectOnce();
    } catch (err) {
      // Never left without a way back: anything unexpected is one more failed attempt.
      this.log.error({ guid: this.guid, err: this.reason(err) }, 'wechaty: connect attempt crashed');
      this.puppet = undefined;
      this.connectInFlight = false;
      this.scheduleReconnect();
    } finally {
      this.connectInFlight = false;
    }
  }

  private async connectOnce(): Promise<void> {
    const gen = ++this.generation;
    this.phase = 'connecting';
    await this.detaching;
    if (gen !== this.generation || this.closed) return;
    const puppet = createPuppet(this.credentials);
    this.puppet = puppet;
    this.phase = 'connecting';
    this.attach(puppet, gen);
    try {
      await withTimeout(puppet.start(), this.settings.startTimeoutMs, 'start timed out');
    } catch (err) {
      if (gen !== this.generation) return;
      this.puppet = undefined;
      this.drop(puppet);
      if (isTokenRefusal(err)) {
        this.phase = 'refused';
        this.refusedReason = 'the provider refused the token';
        this.log.warn({ guid: this.guid, reason: this.reason(err) }, 'wechaty: provider refused the token; not retrying');
        this.wake();
        return;
      }
      this.log.warn({ guid: this.guid, err: this.reason(err), attempt: this.reconnectAttempt }, 'wechaty: connect failed');
      this.scheduleReconnect();
      return;
    }
    if (gen !== this.generation) return;
    this.log.info({ guid: this.guid, attempt: this.reconnectAttempt }, 'wechaty: connected');
    this.reconnectAttempt = 0;
    this.lastEventAt = Date.now();
    // The login event of a session the provider kept may already have arrived during start().
    if (this.phase === 'connecting') this.phase = puppet.isLoggedIn ? 'online' : 'connected';
    this.startKeepalive(gen);
    this.wake();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const delay = reconnectDelayMs(this.reconnectAttempt++, this.settings.reconnectBaseMs, this.settings.reconnectMaxMs);
    this.phase = 'connecting';
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.closed && !this.puppet && !this.connectInFlight) void this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  /** The stream is gone (error event, reset, silent heartbeat): drop the client and reconnect with backoff. */
  private lost(gen: number, why: string): void {
    if (gen !== this.generation || this.closed) return;
    this.generation++;
    const puppet = this.puppet;
    this.puppet = undefined;
    this.stopKeepalive();
    if (puppet) this.drop(puppet);
    this.log.warn({ guid: this.guid, why }, 'wechaty: connection lost, reconnecting');
    if (this.phase === 'online') this.notify(NOTIFY.offline, { scene: 'network', reason: why });
    this.scheduleReconnect();
    this.wake();
  }

  private drop(puppet: PuppetLike): void {
    this.detaching = this.detaching.then(() => detachPuppet(puppet)).catch(() => undefined);
  }

  private startKeepalive(gen: number): void {
    this.stopKeepalive();
    this.keepaliveTimer = setInterval(() => {
      if (gen !== this.generation) return;
      if (Date.now() - this.lastEventAt > this.settings.heartbeatTimeoutMs) {
        this.lost(gen, 'heartbeat_timeout');
        return;
      }
      try {
        this.puppet?.ding('gateway');
      } catch {
        // a failed ding shows up as silence; the timeout above handles it
      }
    }, this.settings.keepaliveMs);
    this.keepaliveTimer.unref();
  }

  private stopKeepalive(): void {
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = undefined;
  }

  /** Ends the session in this process. `stopProvider`: also stop the hosted account (instance deleted). */
  async close(opts: { stopProvider?: boolean } = {}): Promise<void> {
    this.closed = true;
    this.generation++;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.qrGraceTimer) clearTimeout(this.qrGraceTimer);
    this.stopKeepalive();
    const puppet = this.puppet;
    this.puppet = undefined;
    this.phase = 'stopped';
    this.wake();
    await this.detaching;
    if (puppet) await detachPuppet(puppet, { stopProvider: opts.stopProvider });
  }

  /** New credentials (token rotated): reconnect with them. */
  async replaceCredentials(creds: WechatyCredentials): Promise<void> {
    this.credentials = creds;
    if (this.phase === 'refused') {
      this.phase = 'stopped';
      this.refusedReason = undefined;
    }
    if (this.puppet) this.lost(this.generation, 'credentials_replaced');
  }

  /**
   * A provider's error text, short and without the account's secrets: servers echo the token in their
   * refusals ("Invalid Wechaty TOKEN …"), and these texts reach logs and the platform's error_message.
   */
  reason(err: unknown): string {
    return this.scrub(describeError(err).message).slice(0, 200);
  }

  scrub(text: string): string {
    let out = text;
    for (const secret of [this.credentials.token, this.credentials.endpoint]) if (secret) out = out.split(secret).join('[redacted]');
    return out;
  }

  // ---- events ------------------------------------------------------------------------------------

  private attach(p: PuppetLike, gen: number): void {
    const live = () => gen === this.generation && !this.closed;
    const seen = () => {
      this.lastEventAt = Date.now();
    };
    p.on('error', (e: unknown) => {
      if (!live()) return;
      const { code } = describeError(e);
      this.log.debug({ guid: this.guid, code, err: this.reason(e) }, 'wechaty: client error');
      // A dropped stream surfaces as an error of the event stream (UNAVAILABLE, CANCELLED, INTERNAL).
      if (this.phase !== 'connecting' && (code === 14 || code === 1 || code === 13)) this.lost(gen, `stream_error_${code}`);
    });
    p.on('reset', () => {
      if (live()) this.lost(gen, 'provider_reset');
    });
    p.on('heartbeat', () => {
      if (!live()) return;
      seen();
      this.lastHeartbeat = Date.now();
    });
    p.on('dong', () => {
      if (!live()) return;
      seen();
      this.lastHeartbeat = Date.now();
    });
    p.on('scan', (e: { status: number; qrcode?: string; expireTimestamp?: number }) => {
      if (!live()) return;
      seen();
      void this.onScan(e).catch((err) => this.log.warn({ guid: this.guid, err: this.reason(err) }, 'wechaty: scan handling failed'));
    });
    p.on('login', (e: { contactId: string }) => {
      if (!live()) return;
      seen();
      void this.onLogin(p, e.contactId);
    });
    p.on('logout', (e: { contactId: string; data?: string }) => {
      if (!live()) return;
      seen();
      const wasOnline = this.phase === 'online';
      const scene = logoutScene(e.data, this.logoutRequested);
      this.logoutRequested = false;
      this.phase = 'offline';
      this.userInfo = undefined;
      this.qr = undefined;
      if (wasOnline || scene !== 'logout') this.notify(NOTIFY.offline, { scene, ...(e.data ? { reason: String(e.data).slice(0, 200) } : {}) });
      this.wake();
    });
    p.on('verify-code', (e: { id: string; status: number; message?: string }) => {
      if (!live()) return;
      seen();
      this.onVerifyCode(e);
    });
    p.on('message', (e: { messageId: string }) => {
      if (!live()) return;
      seen();
      void this.onMessage(p, e.messageId);
    });
    p.on('friendship', (e: { friendshipId: string }) => {
      if (!live()) return;
      seen();
      void this.onFriendship(p, e.friendshipId);
    });
    for (const [event, change] of [
      ['room-join', 'join'],
      ['room-leave', 'leave'],
      ['room-topic', 'topic'],
    ] as const) {
      p.on(event, (e: Record<string, unknown>) => {
        if (!live()) return;
        seen();
        this.notify(NOTIFY.groupChange, { change, ...pickRoomEvent(e) });
      });
    }
    p.on('dirty', (e: { payloadType: number; payloadId: string }) => {
      if (!live()) return;
      seen();
      // wechaty-puppet DirtyType: 2 Contact, 6 Room.
      if (e.payloadType === 2) this.notify(NOTIFY.contactChange, { change: 'updated', contact_id: e.payloadId });
      if (e.payloadType === 6) this.notify(NOTIFY.groupChange, { change: 'updated', room_id: e.payloadId });
    });
  }

  private async onScan(e: { status: number; qrcode?: string; expireTimestamp?: number }): Promise<void> {
    const step = scanStep(e.status, e.qrcode);
    switch (step.step) {
      case 'qr': {
        if (this.qr?.content === step.content && this.phase === 'waiting_scan') return;
        const png = (await renderQrPng(step.content)).toString('base64');
        const expiresAt = e.expireTimestamp && e.expireTimestamp > Date.now() ? e.expireTimestamp : Date.now() + this.settings.qrTtlMs;
        const replaced = this.qr !== undefined && (this.phase === 'waiting_scan' || this.phase === 'qr_expired');
        if (this.qrGraceTimer) clearTimeout(this.qrGraceTimer);
        this.qr = { content: step.content, pngBase64: png, expiresAt };
        this.phase = 'waiting_scan';
        if (replaced) {
          this.notify(NOTIFY.loginProgress, { state: 'qr_refreshed', ...this.wireQr() });
        }
        break;
      }
      case 'scanned':
        if (this.phase !== 'waiting_confirm') {
          this.phase = 'waiting_confirm';
          this.notify(NOTIFY.loginProgress, { state: 'waiting_confirm' });
        }
        break;
      case 'confirmed':
        if (this.phase === 'waiting_scan') this.phase = 'waiting_confirm';
        break;
      case 'expired':
        this.phase = 'qr_expired';
        this.qrExpiryFinal = false;
        // Providers usually follow a timeout with a fresh QR; ask for one, and report the expiry only if
        // none comes within the grace period.
        void this.puppet?.refreshQRCode().catch(() => undefined);
        if (this.qrGraceTimer) clearTimeout(this.qrGraceTimer);
        this.qrGraceTimer = setTimeout(() => {
          if (this.phase !== 'qr_expired') return;
          this.qrExpiryFinal = true;
          this.notify(NOTIFY.loginProgress, { state: 'qr_expired' });
        }, this.settings.qrRefreshGraceMs);
        this.qrGraceTimer.unref();
        break;
      case 'cancelled':
        this.phase = 'cancelled';
        this.qr = undefined;
        this.notify(NOTIFY.loginProgress, { state: 'cancelled' });
        break;
      default:
        return;
    }
    this.wake();
  }

  private async onLogin(p: PuppetLike, contactId: string): Promise<void> {
    this.selfId = contactId;
    let info: Record<string, unknown> = { id: contactId };
    try {
      const c = await withTimeout(p.contactPayload(contactId), 5_000, 'contact payload timed out');
      info = { id: contactId, name: c.name ?? '', avatar: c.avatar ?? '', ...(c.corporation ? { corporation: c.corporation } : {}) };
    } catch {
      // the id alone is enough to go online
    }
    if (this.closed) return;
    this.userInfo = info;
    this.qr = undefined;
    this.verifyId = undefined;
    this.verifyAnswers++;
    this.lastVerifyVerdict = undefined;
    this.phase = 'online';
    this.lastHeartbeat = Date.now();
    this.reconnectAttempt = 0;
    this.notify(NOTIFY.online, { user_info: info });
    this.wake();
  }

  private onVerifyCode(e: { id: string; status: number; message?: string }): void {
    this.verifyAnswers++;
    this.lastVerifyVerdict = e.status === VERIFY.WrongCode ? 'wrong_code' : e.status === VERIFY.Expired ? 'expired' : undefined;
    switch (e.status) {
      case VERIFY.Waiting:
        this.verifyId = e.id;
        this.phase = 'need_verify';
        this.notify(NOTIFY.loginProgress, { state: 'need_verify', reason: e.message?.slice(0, 200) || 'verify_code' });
        break;
      case VERIFY.WrongCode:
        this.verifyId = e.id;
        this.phase = 'need_verify';
        this.notify(NOTIFY.loginProgress, { state: 'verify_failed', reason: 'wrong_code' });
        break;
      case VERIFY.Expired:
        this.verifyId = undefined;
        this.phase = 'offline';
        this.notify(NOTIFY.loginProgress, { state: 'verify_failed', reason: 'expired' });
        break;
      default:
        return;
    }
    this.wake();
  }

  private async onMessage(p: PuppetLike, messageId: string): Promise<void> {
    try {
      const m = await withTimeout(p.messagePayload(messageId), 10_000, 'message payload timed out');
      const incoming = incomingFromPuppet(m, this.selfId ?? (p.isLoggedIn ? p.currentUserId : undefined));
      if (incoming) this.notify(NOTIFY.messages, { messages: [incoming] });
    } catch (err) {
      this.log.warn({ guid: this.guid, err: this.reason(err) }, 'wechaty: message payload unavailable');
    }
  }

  private async onFriendship(p: PuppetLike, friendshipId: string): Promise<void> {
    let payload: Record<string, unknown> = { friendship_id: friendshipId };
    try {
      const f = await withTimeout(p.friendshipPayload(friendshipId), 10_000, 'friendship payload timed out');
      payload = { friendship_id: friendshipId, contact_id: f.contactId, hello: f.hello ?? '', type: f.type };
    } catch {
      // the id alone still tells operators a request came in
    }
    this.notify(NOTIFY.friendRequest, payload);
  }

  // ---- what the platform asks --------------------------------------------------------------------

  private wake(): void {
    for (const w of this.waiters) w();
  }

  /** Resolves when `ready()` holds or after `ms`. */
  private async waitUntil(ready: () => boolean, ms: number): Promise<void> {
    if (ready()) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        if (!ready() && Date.now() < deadline) return;
        this.waiters.delete(done);
        clearTimeout(t);
        resolve();
      };
      const deadline = Date.now() + ms;
      const t = setTimeout(() => {
        this.waiters.delete(done);
        resolve();
      }, ms);
      this.waiters.add(done);
    });
  }

  private wireQr(): WireQr {
    const qr = this.qr!;
    return { qr_png_base64: qr.pngBase64, qr_content: qr.content, expires_at: new Date(qr.expiresAt).toISOString() };
  }

  /**
   * A login start: connects, then answers the QR to scan, or the state the provider is in (a session it
   * kept comes back online without a QR). No QR within the wait: retryable.
   */
  async startLogin(): Promise<WireQr | WireProgress> {
    if (this.phase === 'refused') this.phase = 'stopped';
    if (this.phase === 'cancelled' || this.phase === 'qr_expired' || this.phase === 'offline') {
      // A new attempt: ask the provider for a fresh QR (a provider that emits one on its own ignores this).
      this.qr = undefined;
      if (this.puppet) this.phase = 'connected';
      void this.puppet?.refreshQRCode().catch(() => undefined);
    }
    this.ensureConnected();
    const answered = () =>
      this.phase === 'refused' || this.phase === 'online' || this.phase === 'need_verify' || this.phase === 'waiting_confirm' || (this.phase === 'waiting_scan' && !!this.qr);
    await this.waitUntil(answered, this.settings.loginWaitMs);
    const phase = this.phase as Phase;
    if (phase === 'refused') throw new GatewayError('permanent', 'token_refused', this.refusedReason ?? 'the provider refused the token');
    if (this.phase === 'waiting_scan' && this.qr) return this.wireQr();
    if (answered()) return this.progress();
    if (phase === 'connecting') throw new GatewayError('retryable', 'provider_unavailable', 'the provider cannot be reached yet');
    throw new GatewayError('retryable', 'qr_not_ready', 'the provider has not sent a QR code yet');
  }

  progress(): WireProgress {
    switch (this.phase) {
      case 'waiting_scan':
        return { state: 'waiting_scan', qr_expires_at: new Date(this.qr?.expiresAt ?? Date.now()).toISOString() };
      case 'waiting_confirm':
        return { state: 'waiting_confirm' };
      case 'need_verify':
        return { state: 'need_verify', reason: 'verify_code' };
      case 'online':
        return { state: 'online', user_info: this.userInfo ?? {} };
      case 'qr_expired':
        // Within the grace period a fresh QR may still come: a poll must not end the attempt yet.
        return this.qrExpiryFinal ? { state: 'qr_expired' } : { state: 'waiting_scan', qr_expires_at: new Date(this.qr?.expiresAt ?? Date.now()).toISOString() };
      case 'cancelled':
        return { state: 'cancelled' };
      case 'refused':
        return { state: 'offline', scene: 'expired' };
      case 'connecting':
      case 'connected':
        // Still starting (or reconnecting): the platform polls again.
        return this.qr ? { state: 'waiting_scan', qr_expires_at: new Date(this.qr.expiresAt).toISOString() } : { state: 'waiting_confirm' };
      default:
        return { state: 'offline' };
    }
  }

  status(): WireStatus {
    return {
      guid: this.guid,
      online: this.phase === 'online',
      last_heartbeat: this.phase === 'online' && this.lastHeartbeat ? new Date(this.lastHeartbeat).toISOString() : null,
      ...(this.userInfo ? { user_info: this.userInfo } : {}),
    };
  }

  async submitVerifyCode(code: string): Promise<WireProgress> {
    if (this.phase !== 'need_verify' || !this.verifyId || !this.puppet) {
      throw new GatewayError('permanent', 'not_waiting_for_code', `no verify code is expected (${this.phase})`);
    }
    const id = this.verifyId;
    const answers = this.verifyAnswers;
    try {
      await withTimeout(this.puppet.enterVerifyCode(id, code), this.settings.sendTimeoutMs, 'verify code timed out');
    } catch (err) {
      throw new GatewayError('retryable', 'provider_error', this.reason(err));
    }
    // The provider answers with login, or a verify-code event saying the code was wrong or expired.
    await this.waitUntil(() => this.verifyAnswers !== answers, this.settings.loginWaitMs);
    if ((this.phase as Phase) === 'online') return this.progress();
    if (this.verifyAnswers !== answers && this.lastVerifyVerdict) return { state: 'verify_failed', reason: this.lastVerifyVerdict };
    // No verdict yet: the platform keeps polling; login or a verify-code event will come as a callback.
    return { state: 'need_verify', reason: 'verify_code_submitted' };
  }

  async cancelLogin(): Promise<void> {
    if (this.phase === 'need_verify' && this.verifyId && this.puppet) await this.puppet.cancelVerifyCode(this.verifyId).catch(() => undefined);
    this.qr = undefined;
    if (this.phase !== 'online') this.phase = this.puppet ? 'cancelled' : 'stopped';
  }

  async logout(): Promise<void> {
    if (!this.puppet || this.phase !== 'online') return;
    this.logoutRequested = true;
    try {
      await withTimeout(this.puppet.logout('logout requested by the operator'), this.settings.sendTimeoutMs, 'logout timed out');
    } catch (err) {
      this.logoutRequested = false;
      throw new GatewayError('retryable', 'provider_error', this.reason(err));
    }
    this.phase = 'offline';
    this.userInfo = undefined;
  }

  /** The connected puppet of an online session, for sends and lists. */
  online(): PuppetLike {
    if (this.phase !== 'online' || !this.puppet) throw new GatewayError('account_offline', 'account_offline', `the account is ${this.phase}`);
    return this.puppet;
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

function pickRoomEvent(e: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { room_id: e.roomId };
  if (Array.isArray(e.inviteeIdList)) out.member_ids = e.inviteeIdList;
  if (Array.isArray(e.removeeIdList)) out.member_ids = e.removeeIdList;
  if (typeof e.newTopic === 'string') out.topic = e.newTopic;
  return out;
}

export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(Object.assign(new Error(message), { timeout: true })), ms);
    }),
  ]).finally(() => clearTimeout(t));
}
