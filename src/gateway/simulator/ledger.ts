/**
 * The simulator's own record of deliveries, keyed by idempotency key. It is the ground truth the
 * exactly-once tests and benchmarks compare against: a key delivered twice is a duplicate delivery.
 * Memory is bounded: at most `maxKeys` keys (oldest evicted first, counted).
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

export class DeliveryLedger {
  private readonly deliveries = new Map<string, number>();
  private s = { total_requests: 0, total_deliveries: 0, duplicate_requests: 0, duplicate_deliveries: 0, evicted_keys: 0 };

  constructor(private readonly maxKeys = 1_000_000) {}

  countRequest(): void {
    this.s.total_requests++;
  }

  deliveriesOf(key: string): number {
    return this.deliveries.get(key) ?? 0;
  }

  countDuplicateRequest(): void {
    this.s.duplicate_requests++;
  }

  recordDelivery(key: string): void {
    const n = this.deliveries.get(key) ?? 0;
    if (n === 0 && this.deliveries.size >= this.maxKeys) {
      const oldest = this.deliveries.keys().next().value as string;
      this.deliveries.delete(oldest);
      this.s.evicted_keys++;
    }
    this.deliveries.set(key, n + 1);
    this.s.total_deliveries++;
    if (n > 0) this.s.duplicate_deliveries++;
  }

  summary(): LedgerSummary {
    return { ...this.s, unique_keys: this.deliveries.size };
  }

  reset(): void {
    this.deliveries.clear();
    this.s = { total_requests: 0, total_deliveries: 0, duplicate_requests: 0, duplicate_deliveries: 0, evicted_keys: 0 };
  }
}
