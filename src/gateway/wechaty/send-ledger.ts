import type Redis from 'ioredis';
import { redisKey } from '../../redis';

/**
 * The gateway's idempotency for sends. A puppet has no idempotency key, so the gateway records each
 * platform key in Redis before the send (`pending`) and after it (`sent` with the provider's message
 * id). A repeated key answers the first result; a key left `pending` (the gateway died between the send
 * and the record, or the answer was lost) is never sent again: its outcome is unknown. A send the
 * provider answered with an error is forgotten, so a retry may send it.
 *
 * Entries expire after `ttlMs` (the platform retries a message within minutes; days are ample).
 */
export type LedgerEntry = { state: 'pending'; at: number } | { state: 'sent'; messageId: string; at: number };

export type Reservation = { kind: 'reserved' } | { kind: 'exists'; entry: LedgerEntry };

export const DEFAULT_LEDGER_TTL_MS = 3 * 24 * 3600_000;

/** What a sender needs of a ledger (the bench swaps in one that records nothing, to price the ledger). */
export type SendRecords = Pick<SendLedger, 'reserve' | 'recordSent' | 'forget'>;

export class SendLedger {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs = DEFAULT_LEDGER_TTL_MS,
  ) {}

  private key(guid: string, idempotencyKey: string): string {
    return redisKey(this.prefix, 'wx', 'send', guid, idempotencyKey);
  }

  /** Marks the key pending if nobody has; otherwise answers what is recorded. */
  async reserve(guid: string, idempotencyKey: string): Promise<Reservation> {
    const k = this.key(guid, idempotencyKey);
    const entry: LedgerEntry = { state: 'pending', at: Date.now() };
    const ok = await this.redis.set(k, JSON.stringify(entry), 'PX', this.ttlMs, 'NX');
    if (ok === 'OK') return { kind: 'reserved' };
    const raw = await this.redis.get(k);
    // Expired between the two calls: reserve again.
    if (raw === null) return this.reserve(guid, idempotencyKey);
    return { kind: 'exists', entry: JSON.parse(raw) as LedgerEntry };
  }

  async recordSent(guid: string, idempotencyKey: string, messageId: string): Promise<void> {
    const entry: LedgerEntry = { state: 'sent', messageId, at: Date.now() };
    await this.redis.set(this.key(guid, idempotencyKey), JSON.stringify(entry), 'PX', this.ttlMs);
  }

  /** The provider answered with an error: nothing was sent, a retry may try again. */
  async forget(guid: string, idempotencyKey: string): Promise<void> {
    await this.redis.del(this.key(guid, idempotencyKey));
  }

  async get(guid: string, idempotencyKey: string): Promise<LedgerEntry | undefined> {
    const raw = await this.redis.get(this.key(guid, idempotencyKey));
    return raw === null ? undefined : (JSON.parse(raw) as LedgerEntry);
  }
}
