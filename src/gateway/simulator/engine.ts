import { randomBytes, randomUUID } from 'node:crypto';
import { NOTIFY } from '../callback-protocol';
import { renderQrPng } from '../qr-png';
import type { WireConversation, WireMessageStatus, WireProgress, WireQr, WireStatus } from '../protocol';
import type { OfflineScene } from '../types';
import type { CallbackSender } from './callback-sender';
import { DeliveryLedger, messageIdFor, namesOf, type SendNames } from './ledger';
import { takeToken, type Bucket } from './rate-limiter';

/** Tunables a test or demo may change at runtime through the control API (snake_case, as on the wire). */
export interface SimulatorSettings {
  auto_login: boolean;
  auto_login_delay_ms: number;
  qr_ttl_ms: number;
  verify_ttl_ms: number;
  /** Per-instance sends per minute; 0 = unlimited. */
  send_rate_per_minute: number;
  /** Token bucket size; defaults to the per-minute rate. */
  send_burst: number;
  latency_ms: number;
  latency_jitter_ms: number;
  /** Share of sends answered 503 before delivering (retryable). */
  failure_rate: number;
  /** Share of sends delivered but answered 503 (the acknowledgement is lost; a retry must not deliver twice). */
  ack_loss_rate: number;
  /** Conversation ids that do not exist: sends to them answer 422 target_not_found. */
  permanent_targets: string[];
  /** Text containing any of these is refused with 422 content_rejected. */
  rejected_words: string[];
  receipt_delay_ms: number;
  /** Share of delivered messages whose receipt reports `failed`. */
  receipt_failure_rate: number;
  /** Idempotency can be switched off to prove the ledger sees duplicates. */
  idempotency: boolean;
  /**
   * Share of receipts never called back, as a gateway that gave up after its retries: the message
   * status query still answers them (the service's reconciliation finds them that way).
   */
  receipt_drop_rate: number;
  /** Share of sends refused by WeCom's risk control (HTTP 403 with `risk_code`), before delivering. */
  risk_rate: number;
  risk_code: string;
}

export const DEFAULT_SETTINGS: SimulatorSettings = {
  auto_login: false,
  auto_login_delay_ms: 500,
  qr_ttl_ms: 120_000,
  verify_ttl_ms: 300_000,
  send_rate_per_minute: 0,
  send_burst: 0,
  latency_ms: 0,
  latency_jitter_ms: 0,
  failure_rate: 0,
  ack_loss_rate: 0,
  permanent_targets: [],
  rejected_words: [],
  receipt_delay_ms: 50,
  receipt_failure_rate: 0,
  idempotency: true,
  receipt_drop_rate: 0,
  risk_rate: 0,
  risk_code: 'risk_control',
};

type Phase = 'idle' | 'waiting_scan' | 'waiting_confirm' | 'need_verify' | 'online' | 'offline' | 'qr_expired' | 'cancelled';

interface Instance {
  guid: string;
  /** Unique for the engine's life: the ledger names the sending instance by this number (smaller than its guid). */
  no: number;
  label: string;
  createdAt: number;
  phase: Phase;
  /** The PNG itself is handed out once and not kept (memory). */
  qr?: { content: string; expiresAt: number };
  /** Set through the control API before confirm: the login then asks for this code. */
  verifyNext?: string;
  verify?: { code: string; expiresAt: number };
  userInfo?: Record<string, unknown>;
  scene?: OfflineScene;
  /** When set, status reports this frozen heartbeat (simulates a hung session). */
  stalledAt?: number;
  offlineAt?: number;
  /** Next `n` login starts fail with this kind. */
  loginFailure?: { kind: 'retryable' | 'permanent'; remaining: number };
  /** The next `remaining` sends of this instance are refused with this risk code (fault injection). */
  riskAnswers?: { code: string; remaining: number };
  bucket: Bucket;
  timers: Set<NodeJS.Timeout>;
  /** Send requests to this instance (repeats of a delivered key included) and deliveries: fault runs watch each account resume. */
  requests: number;
  deliveries: number;
}

/** An error answer of the simulated gateway. */
export class SimError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

const MESSAGE_TYPES = new Set(['text', 'image', 'file', 'link', 'miniprogram', 'at']);

/**
 * The simulated gateway's behaviour, independent of HTTP: instances, the QR login steps, sends with
 * idempotency, rate limits and fault injection, and the callbacks each change produces.
 */
export class SimulatorEngine {
  private readonly instances = new Map<string, Instance>();
  readonly ledger: DeliveryLedger;
  settings: SimulatorSettings;
  private readonly receipts: Array<{ due: number; guid: string; msgId: string; entryKey: string; key: string }> = [];
  private readonly receiptTimer: NodeJS.Timeout;
  /** `batch_requests`: batch send requests taken (protocol.ts), however many sends each carried. */
  readonly counters = { receipts_dropped: 0, receipts_withheld: 0, rate_limited: 0, injected_failures: 0, ack_losses: 0, risk_answers: 0, batch_requests: 0 };
  private instancesCreated = 0;

  constructor(
    private readonly callbacks: CallbackSender,
    settings: Partial<SimulatorSettings> = {},
    private readonly limits = { maxInstances: 100_000, maxLedgerKeys: 1_000_000, maxPendingReceipts: 100_000 },
  ) {
    this.settings = { ...DEFAULT_SETTINGS, ...settings };
    this.ledger = new DeliveryLedger(limits.maxLedgerKeys);
    this.receiptTimer = setInterval(() => this.flushReceipts(), 25);
    this.receiptTimer.unref();
  }

  // ---- gateway API -------------------------------------------------------------------------------

  createInstance(label?: string): { guid: string } {
    if (this.instances.size >= this.limits.maxInstances) throw new SimError(503, 'capacity_exceeded', 'simulator instance cap reached');
    const guid = `sim-${randomUUID()}`;
    this.instances.set(guid, {
      guid,
      no: ++this.instancesCreated,
      label: label ?? guid.slice(4, 12),
      createdAt: Date.now(),
      phase: 'idle',
      // Infinity: full at first use, whatever the rate is by then.
      bucket: { tokens: Number.POSITIVE_INFINITY, at: Date.now() },
      timers: new Set(),
      requests: 0,
      deliveries: 0,
    });
    return { guid };
  }

  /** Removes an instance (its account was deleted); unknown guids are fine. */
  deleteInstance(guid: string): void {
    const inst = this.instances.get(guid);
    if (!inst) return;
    this.clearTimers(inst);
    this.instances.delete(guid);
  }

  async startLogin(guid: string): Promise<WireQr> {
    const inst = this.get(guid);
    if (inst.loginFailure && inst.loginFailure.remaining > 0) {
      inst.loginFailure.remaining--;
      const kind = inst.loginFailure.kind;
      if (inst.loginFailure.remaining === 0) inst.loginFailure = undefined;
      throw kind === 'retryable'
        ? new SimError(503, 'login_unavailable', 'login service temporarily unavailable')
        : new SimError(422, 'login_blocked', 'this account may not log in');
    }
    this.clearTimers(inst);
    const content = `https://sim.wework.local/qr/login?guid=${encodeURIComponent(guid)}&nonce=${randomBytes(8).toString('hex')}`;
    const png = await renderQrPng(content);
    const expiresAt = Date.now() + this.settings.qr_ttl_ms;
    inst.qr = { content, expiresAt };
    inst.phase = 'waiting_scan';
    inst.verify = undefined;
    inst.userInfo = undefined;
    inst.scene = undefined;
    this.later(inst, this.settings.qr_ttl_ms, () => this.expireQr(inst));
    if (this.settings.auto_login) {
      this.later(inst, this.settings.auto_login_delay_ms, () => {
        if (inst.phase !== 'waiting_scan') return;
        this.scan(guid);
        this.later(inst, this.settings.auto_login_delay_ms, () => {
          if (inst.phase === 'waiting_confirm') this.confirm(guid);
        });
      });
    }
    return { qr_png_base64: png.toString('base64'), qr_content: content, expires_at: new Date(expiresAt).toISOString() };
  }

  loginProgress(guid: string): WireProgress {
    const inst = this.get(guid);
    this.checkQrExpiry(inst);
    switch (inst.phase) {
      case 'waiting_scan':
        return { state: 'waiting_scan', qr_expires_at: new Date(inst.qr!.expiresAt).toISOString() };
      case 'waiting_confirm':
        return { state: 'waiting_confirm' };
      case 'need_verify':
        return { state: 'need_verify', reason: 'device_verification' };
      case 'online':
        return { state: 'online', user_info: inst.userInfo ?? {} };
      case 'qr_expired':
        return { state: 'qr_expired' };
      case 'cancelled':
        return { state: 'cancelled' };
      case 'offline':
        return inst.scene ? { state: 'offline', scene: inst.scene } : { state: 'offline' };
      default:
        return { state: 'offline' };
    }
  }

  submitVerifyCode(guid: string, code: string): WireProgress {
    const inst = this.get(guid);
    if (inst.phase !== 'need_verify' || !inst.verify) throw new SimError(409, 'not_waiting_for_code', `instance is ${inst.phase}`);
    if (Date.now() > inst.verify.expiresAt) {
      this.notify(inst, NOTIFY.loginProgress, { state: 'verify_failed', reason: 'expired' });
      return { state: 'verify_failed', reason: 'expired' };
    }
    if (code !== inst.verify.code) {
      this.notify(inst, NOTIFY.loginProgress, { state: 'verify_failed', reason: 'wrong_code' });
      return { state: 'verify_failed', reason: 'wrong_code' };
    }
    this.goOnline(inst);
    return { state: 'online', user_info: inst.userInfo ?? {} };
  }

  cancelLogin(guid: string): void {
    const inst = this.get(guid);
    if (inst.phase === 'waiting_scan' || inst.phase === 'waiting_confirm' || inst.phase === 'need_verify') {
      this.clearTimers(inst);
      inst.phase = 'cancelled';
    }
  }

  logout(guid: string): void {
    const inst = this.get(guid);
    const wasOnline = inst.phase === 'online';
    this.clearTimers(inst);
    inst.phase = 'offline';
    inst.scene = 'logout';
    inst.offlineAt = Date.now();
    if (wasOnline) this.notify(inst, NOTIFY.offline, { scene: 'logout' });
  }

  status(guid: string): WireStatus {
    const inst = this.instances.get(guid);
    if (!inst) return { guid, online: false, last_heartbeat: null };
    const online = inst.phase === 'online';
    const beat = online ? (inst.stalledAt ?? Date.now()) : inst.offlineAt;
    return { guid, online, last_heartbeat: beat ? new Date(beat).toISOString() : null, user_info: online ? inst.userInfo : undefined };
  }

  conversations(guid: string): WireConversation[] {
    const inst = this.get(guid);
    if (inst.phase !== 'online') throw new SimError(409, 'account_offline', 'instance is not online');
    return fakeConversations(inst.guid, inst.createdAt);
  }

  /** One send: idempotent by key, then fault injection, then the rate limit, then delivery. */
  send(guid: string, req: { conversation_id?: unknown; content?: unknown; idempotency_key?: unknown }): { message_id: string; duplicate: boolean; counted_at?: number } {
    this.ledger.countRequest();
    const inst = this.get(guid);
    inst.requests += 1;
    const key = typeof req.idempotency_key === 'string' ? req.idempotency_key : '';
    const target = typeof req.conversation_id === 'string' ? req.conversation_id : '';
    const content = req.content as { type?: string; text?: string } | undefined;
    if (!key || key.length > 200) throw new SimError(400, 'bad_request', 'idempotency key required (≤ 200 chars)');
    if (!target) throw new SimError(400, 'bad_request', 'conversation_id required');
    if (!content || typeof content.type !== 'string' || !MESSAGE_TYPES.has(content.type)) {
      throw new SimError(400, 'bad_request', 'content.type must be one of text, image, file, link, miniprogram, at');
    }
    if (inst.phase !== 'online') throw new SimError(409, 'account_offline', 'instance is not online');
    const { messageId, entryKey } = namesOf(key);
    if (this.settings.idempotency && this.ledger.deliveriesAt(entryKey) > 0) {
      this.ledger.countDuplicateRequest();
      return { message_id: messageId, duplicate: true };
    }
    const risk = inst.riskAnswers && inst.riskAnswers.remaining > 0 ? inst.riskAnswers.code : this.settings.risk_rate > 0 && Math.random() < this.settings.risk_rate ? this.settings.risk_code : null;
    if (risk) {
      if (inst.riskAnswers && inst.riskAnswers.remaining > 0) inst.riskAnswers.remaining--;
      this.counters.risk_answers++;
      throw new SimError(403, risk, 'injected: the account is restricted by risk control');
    }
    if (this.settings.failure_rate > 0 && Math.random() < this.settings.failure_rate) {
      this.counters.injected_failures++;
      throw new SimError(503, 'gateway_busy', 'injected transient failure');
    }
    if (this.settings.permanent_targets.includes(target)) throw new SimError(422, 'target_not_found', `conversation ${target} does not exist`);
    const text = typeof content.text === 'string' ? content.text : '';
    if (text && this.settings.rejected_words.some((w) => w && text.includes(w))) {
      throw new SimError(422, 'content_rejected', 'content refused by the platform');
    }
    // The limiter counts the send now, on arrival: the answer says when (protocol.ts, `counted_at`).
    const countedAt = Date.now();
    const taken = takeToken(inst.bucket, this.settings.send_rate_per_minute, this.burst(), countedAt);
    if (!taken.ok) {
      this.counters.rate_limited++;
      throw new SimError(429, 'rate_limited', 'per-account send rate exceeded', taken.retryAfterMs);
    }
    this.ledger.recordDelivery(entryKey, inst.no);
    inst.deliveries += 1;
    this.queueReceipt(guid, { messageId, entryKey }, key);
    if (this.settings.ack_loss_rate > 0 && Math.random() < this.settings.ack_loss_rate) {
      this.counters.ack_losses++;
      throw new SimError(503, 'upstream_timeout', 'injected: delivered but acknowledgement lost');
    }
    return { message_id: messageId, duplicate: false, counted_at: countedAt };
  }

  /** The status query: per id, the receipt sent (or withheld), `sent` before it, `unknown` if never delivered here. */
  messageStatuses(guid: string, messageIds: string[]): WireMessageStatus[] {
    const inst = this.instances.get(guid);
    return messageIds.map((id) => {
      const o = this.ledger.outcomeOf(id);
      if (!o || o.instanceNo !== inst?.no) return { message_id: id, status: 'unknown' };
      if (o.status === 'failed') {
        return { message_id: id, status: 'failed', error_code: 'recipient_unreachable', error_message: 'simulated delivery failure', at: new Date(o.at!).toISOString() };
      }
      return o.at ? { message_id: id, status: o.status, at: new Date(o.at).toISOString() } : { message_id: id, status: o.status };
    });
  }

  uploadMedia(guid: string, size: number): { file_id: string } {
    this.get(guid);
    if (size === 0) throw new SimError(400, 'bad_request', 'empty media');
    return { file_id: `sim-media-${randomUUID()}` };
  }

  // ---- control (demos and tests) -----------------------------------------------------------------

  scan(guid: string): WireProgress {
    const inst = this.get(guid);
    this.checkQrExpiry(inst);
    if (inst.phase !== 'waiting_scan') throw new SimError(409, 'not_waiting_for_scan', `instance is ${inst.phase}`);
    inst.phase = 'waiting_confirm';
    this.notify(inst, NOTIFY.loginProgress, { state: 'waiting_confirm' });
    return this.loginProgress(guid);
  }

  confirm(guid: string): WireProgress {
    const inst = this.get(guid);
    if (inst.phase !== 'waiting_confirm') throw new SimError(409, 'not_waiting_for_confirm', `instance is ${inst.phase}`);
    if (inst.verifyNext) {
      inst.phase = 'need_verify';
      inst.verify = { code: inst.verifyNext, expiresAt: Date.now() + this.settings.verify_ttl_ms };
      inst.verifyNext = undefined;
      this.notify(inst, NOTIFY.loginProgress, { state: 'need_verify', reason: 'device_verification' });
    } else {
      this.goOnline(inst);
    }
    return this.loginProgress(guid);
  }

  requireVerify(guid: string, code: string): void {
    const inst = this.get(guid);
    inst.verifyNext = code;
  }

  kick(guid: string, scene: OfflineScene = 'kicked', notify = true): void {
    const inst = this.get(guid);
    this.clearTimers(inst);
    inst.phase = 'offline';
    inst.scene = scene;
    inst.offlineAt = Date.now();
    inst.stalledAt = undefined;
    if (notify) this.notify(inst, NOTIFY.offline, { scene, reason: `simulated ${scene}` });
  }

  /** Freezes the instance's reported heartbeat (at `agoMs` in the past), as a hung session would. */
  stallHeartbeat(guid: string, stalled: boolean, agoMs = 0): void {
    const inst = this.get(guid);
    inst.stalledAt = stalled ? Date.now() - agoMs : undefined;
  }

  /** The next `times` sends of the instance are refused with the risk `code` (0 times: stop). */
  answerRisk(guid: string, code: string, times: number): void {
    const inst = this.get(guid);
    inst.riskAnswers = times > 0 ? { code, remaining: times } : undefined;
  }

  failLogin(guid: string, kind: 'retryable' | 'permanent' | null, times = 1): void {
    const inst = this.get(guid);
    inst.loginFailure = kind ? { kind, remaining: times } : undefined;
  }

  incoming(guid: string, msg: { conversation_id: string; text: string; sender_id?: string; conversation_type?: 'private' | 'group' }): string {
    const inst = this.get(guid);
    const msgId = `sim-in-${randomUUID()}`;
    this.notify(inst, NOTIFY.messages, {
      messages: [
        {
          kind: 'incoming',
          conversation_id: msg.conversation_id,
          conversation_type: msg.conversation_type ?? 'private',
          sender_id: msg.sender_id ?? 'sim-contact',
          msg_id: msgId,
          content: { type: 'text', text: msg.text },
          sent_at: Math.floor(Date.now() / 1000),
        },
      ],
    });
    return msgId;
  }

  describe(guid: string): Record<string, unknown> {
    const inst = this.get(guid);
    this.checkQrExpiry(inst);
    return {
      guid: inst.guid,
      label: inst.label,
      phase: inst.phase,
      scene: inst.scene ?? null,
      qr_content: inst.qr?.content ?? null,
      qr_expires_at: inst.qr ? new Date(inst.qr.expiresAt).toISOString() : null,
      verify_code: inst.verify?.code ?? null,
      stalled: inst.stalledAt !== undefined,
      requests: inst.requests,
      deliveries: inst.deliveries,
    };
  }

  configure(patch: Partial<SimulatorSettings>): SimulatorSettings {
    this.settings = { ...this.settings, ...patch };
    return this.settings;
  }

  stats(): Record<string, unknown> {
    let online = 0;
    for (const i of this.instances.values()) if (i.phase === 'online') online++;
    return {
      instances: this.instances.size,
      online,
      pending_receipts: this.receipts.length,
      counters: { ...this.counters },
      ledger: this.ledger.summary(),
    };
  }

  reset(settings: Partial<SimulatorSettings> = {}): void {
    for (const inst of this.instances.values()) this.clearTimers(inst);
    this.instances.clear();
    this.ledger.reset();
    this.receipts.length = 0;
    this.settings = { ...DEFAULT_SETTINGS, ...settings };
    for (const k of Object.keys(this.counters) as (keyof typeof this.counters)[]) this.counters[k] = 0;
  }

  close(): void {
    clearInterval(this.receiptTimer);
    for (const inst of this.instances.values()) this.clearTimers(inst);
  }

  // ---- internals ---------------------------------------------------------------------------------

  private get(guid: string): Instance {
    const inst = this.instances.get(guid);
    if (!inst) throw new SimError(404, 'instance_not_found', `instance ${guid} not found`);
    return inst;
  }

  private burst(): number {
    return this.settings.send_burst > 0 ? this.settings.send_burst : Math.max(1, this.settings.send_rate_per_minute);
  }

  private goOnline(inst: Instance): void {
    this.clearTimers(inst);
    inst.phase = 'online';
    inst.scene = undefined;
    inst.stalledAt = undefined;
    inst.verify = undefined;
    inst.userInfo = { user_id: `wm_${inst.guid.slice(4, 12)}`, name: inst.label, corp_id: 'sim-corp', corp_name: 'Simulated Corp' };
    this.notify(inst, NOTIFY.online, { user_info: inst.userInfo });
  }

  private checkQrExpiry(inst: Instance): void {
    if (inst.phase === 'waiting_scan' && inst.qr && Date.now() >= inst.qr.expiresAt) this.expireQr(inst);
  }

  private expireQr(inst: Instance): void {
    if (inst.phase !== 'waiting_scan') return;
    inst.phase = 'qr_expired';
    this.notify(inst, NOTIFY.loginProgress, { state: 'qr_expired' });
  }

  private notify(inst: Instance, notifyType: number, payload: Record<string, unknown>): void {
    this.callbacks.enqueue(inst.guid, notifyType, payload);
  }

  private later(inst: Instance, ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      inst.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    inst.timers.add(t);
  }

  private clearTimers(inst: Instance): void {
    for (const t of inst.timers) clearTimeout(t);
    inst.timers.clear();
  }

  private queueReceipt(guid: string, names: SendNames, key: string): void {
    if (this.receipts.length >= this.limits.maxPendingReceipts) {
      this.counters.receipts_dropped++;
      return;
    }
    this.receipts.push({ due: Date.now() + this.settings.receipt_delay_ms, guid, msgId: names.messageId, entryKey: names.entryKey, key });
  }

  private flushReceipts(): void {
    const now = Date.now();
    let n = 0;
    while (n < this.receipts.length && this.receipts[n].due <= now) n++;
    if (n === 0) return;
    for (const r of this.receipts.splice(0, n)) {
      const failed = this.settings.receipt_failure_rate > 0 && Math.random() < this.settings.receipt_failure_rate;
      this.ledger.recordReceipt(r.entryKey, failed ? 'failed' : 'delivered', now);
      if (this.settings.receipt_drop_rate > 0 && Math.random() < this.settings.receipt_drop_rate) {
        this.counters.receipts_withheld++;
        continue;
      }
      this.callbacks.enqueue(r.guid, NOTIFY.messages, {
        messages: [
          failed
            ? { kind: 'receipt', msg_id: r.msgId, client_msg_id: r.key, status: 'failed', error_code: 'recipient_unreachable', error_message: 'simulated delivery failure', at: Math.floor(now / 1000) }
            : { kind: 'receipt', msg_id: r.msgId, client_msg_id: r.key, status: 'delivered', at: Math.floor(now / 1000) },
        ],
      });
    }
  }
}

export { messageIdFor };

/** A small, stable set of conversations per instance (computed, not stored). */
function fakeConversations(guid: string, createdAt: number): WireConversation[] {
  const tag = guid.slice(4, 12);
  const at = (minutesAgo: number) => new Date(Math.max(createdAt, Date.now()) - minutesAgo * 60_000).toISOString();
  return [
    { conversation_id: `wm-${tag}-c1`, name: 'Alice Zhang', type: 'private', member_count: 2, last_message_time: at(5) },
    { conversation_id: `wm-${tag}-c2`, name: 'Bob Li', type: 'private', member_count: 2, last_message_time: at(60) },
    { conversation_id: `wm-${tag}-c3`, name: 'Carol Wang', type: 'private', member_count: 2, last_message_time: at(600) },
    { conversation_id: `wr-${tag}-g1`, name: 'Sales team', type: 'group', member_count: 12, last_message_time: at(15) },
    { conversation_id: `wr-${tag}-g2`, name: 'VIP customers', type: 'group', member_count: 48, last_message_time: at(120) },
  ];
}
