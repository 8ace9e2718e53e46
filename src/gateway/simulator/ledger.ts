import { createHash } from 'node:crypto';

/**
 * The simulator's own record of deliveries. It is the ground truth the exactly-once tests and benchmarks
 * compare against: a key delivered twice is a duplicate delivery. It also answers the status query (what
 * became of each delivered message). Memory is bounded: at most `maxKeys` messages (oldest evicted first,
 * counted).
 *
 * One map entry per delivered message, keyed by a hash of its key (from which its gateway message id
 * is made, so either finds it), holding its delivery count, state and sending instance packed in one
 * small integer. A map by key plus an object per message by id cost ~300 B per send: 285 MB of heap
 * after 1M sends, which put the 1M bench's harness (it hosts the simulator) over 512 MB.
 */
export interface LedgerSummary {
  total_requests: number;
  total_deliveries: number;
  unique_keys: number;
  /** Send requests whose key had already been delivered (answered `duplicate: true`, not delivered again). */
  duplicate_requests: number;
  /** Deliveries beyond the first for one key: must stay 0 while idempotency is on. */
  duplicate_deliveries: number;
  evicted_keys: number;
}

export type DeliveryState = 'sent' | 'delivered' | 'failed';
const STATES: readonly DeliveryState[] = ['sent', 'delivered', 'failed'];

export interface DeliveryOutcome {
  /** The instance that delivered it (its number, see SimulatorEngine.createInstance). */
  instanceNo: number;
  status: DeliveryState;
  /** When its receipt went out (delivered or failed). */
  at?: number;
}

/**
 * A send's names, both from one hash of its idempotency key (so a retried send answers the same id without
 * storing it): the gateway message id on the wire, and the ledger's key for it, the same 12 bytes as a
 * flat 16-character string (the id is a concatenation V8 keeps as two or three strings, ~140 B).
 */
export interface SendNames {
  messageId: string;
  entryKey: string;
}

export function namesOf(idempotencyKey: string): SendNames {
  const digest = createHash('sha256').update(idempotencyKey).digest();
  return { messageId: `sim-msg-${digest.toString('hex', 0, 12)}`, entryKey: digest.toString('base64', 0, 12) };
}

export const messageIdFor = (idempotencyKey: string): string => namesOf(idempotencyKey).messageId;

/** The ledger's key of a gateway message id; null for an id this simulator never makes. */
export function entryKeyOf(messageId: string): string | null {
  return /^sim-msg-[0-9a-f]{24}$/.test(messageId) ? Buffer.from(messageId.slice(8), 'hex').toString('base64') : null;
}

// Packed entry: ((instanceNo × 4 + state) × 256) + deliveries (capped at 255). A V8 small integer up to
// 2^21 instances ever created: no heap object per message.
const COUNT_CAP = 255;
const pack = (instanceNo: number, state: number, deliveries: number) => (instanceNo * 4 + state) * 256 + Math.min(deliveries, COUNT_CAP);
const deliveriesIn = (packed: number) => packed % 256;
const stateIn = (packed: number) => Math.floor(packed / 256) % 4;
const instanceIn = (packed: number) => Math.floor(packed / 1024);

export class DeliveryLedger {
  private readonly entries = new Map<string, number>();
  /** Receipt times of the messages whose receipt went out (the status query's `at`); a subset of `entries`. */
  private readonly receiptTimes = new Map<string, number>();
  private s = { total_requests: 0, total_deliveries: 0, duplicate_requests: 0, duplicate_deliveries: 0, evicted_keys: 0 };

  constructor(private readonly maxKeys = 1_000_000) {}

  countRequest(): void {
    this.s.total_requests++;
  }

  countDuplicateRequest(): void {
    this.s.duplicate_requests++;
  }

  /** Times the send with this idempotency key was delivered. */
  deliveriesOf(idempotencyKey: string): number {
    return this.deliveriesAt(namesOf(idempotencyKey).entryKey);
  }

  /** Times the send with this entry key (namesOf) was delivered. */
  deliveriesAt(entryKey: string): number {
    const packed = this.entries.get(entryKey);
    return packed === undefined ? 0 : deliveriesIn(packed);
  }

  /** A delivery by instance `instanceNo`: the message is `sent` until its receipt. */
  recordDelivery(entryKey: string, instanceNo: number): void {
    const before = this.entries.get(entryKey);
    const n = before === undefined ? 0 : deliveriesIn(before);
    if (before === undefined && this.entries.size >= this.maxKeys) this.evictOldest();
    this.entries.set(entryKey, pack(instanceNo, 0, n + 1));
    this.receiptTimes.delete(entryKey);
    this.s.total_deliveries++;
    if (n > 0) this.s.duplicate_deliveries++;
  }

  /** Its receipt went out: delivered or failed at `at`. A message no longer held (evicted) is not added back. */
  recordReceipt(entryKey: string, status: 'delivered' | 'failed', at: number): void {
    const packed = this.entries.get(entryKey);
    if (packed === undefined) return;
    this.entries.set(entryKey, pack(instanceIn(packed), STATES.indexOf(status), deliveriesIn(packed)));
    this.receiptTimes.set(entryKey, at);
  }

  /** What became of the message with this gateway message id; undefined when never delivered here (or evicted). */
  outcomeOf(messageId: string): DeliveryOutcome | undefined {
    const entryKey = entryKeyOf(messageId);
    if (entryKey === null) return undefined;
    const packed = this.entries.get(entryKey);
    if (packed === undefined) return undefined;
    const at = this.receiptTimes.get(entryKey);
    return { instanceNo: instanceIn(packed), status: STATES[stateIn(packed)], ...(at === undefined ? {} : { at }) };
  }

  summary(): LedgerSummary {
    return { ...this.s, unique_keys: this.entries.size };
  }

  reset(): void {
    this.entries.clear();
    this.receiptTimes.clear();
    this.s = { total_requests: 0, total_deliveries: 0, duplicate_requests: 0, duplicate_deliveries: 0, evicted_keys: 0 };
  }

  private evictOldest(): void {
    const oldest = this.entries.keys().next().value as string;
    this.entries.delete(oldest);
    this.receiptTimes.delete(oldest);
    this.s.evicted_keys++;
  }
}
