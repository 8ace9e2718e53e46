/**
 * Group commit for reads: each caller asks about one key; the keys asked meanwhile go together in the
 * next read, one read in flight at a time, up to `maxBatch` keys each. A read always starts after the ask
 * (an ask made while a read is in flight waits for the next one), so an answer is at least as new as its
 * question. Ten thousand account runs starting together cost a handful of queries, not ten thousand.
 */
export class GroupRead<K, V> {
  private waiting = new Map<K, Array<{ resolve(v: V | undefined): void; reject(err: unknown): void }>>();
  private running: Promise<void> | null = null;

  constructor(
    private readonly read: (keys: K[]) => Promise<Map<K, V>>,
    private readonly maxBatch = 500,
  ) {}

  get(key: K): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      const list = this.waiting.get(key);
      if (list) list.push({ resolve, reject });
      else this.waiting.set(key, [{ resolve, reject }]);
      this.running ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    // Lets the callers of this turn of the event loop join the first read.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.waiting.size) {
        // The first maxBatch asks (not a copy of every ask waiting: ten thousand at a start-up wave).
        const batch: Array<[K, Array<{ resolve(v: V | undefined): void; reject(err: unknown): void }>]> = [];
        for (const entry of this.waiting) {
          batch.push(entry);
          if (batch.length >= this.maxBatch) break;
        }
        for (const [key] of batch) this.waiting.delete(key);
        try {
          const found = await this.read(batch.map(([key]) => key));
          for (const [key, callers] of batch) for (const c of callers) c.resolve(found.get(key));
        } catch (err) {
          for (const [, callers] of batch) for (const c of callers) c.reject(err);
        }
      }
    } finally {
      this.running = null;
    }
  }
}
