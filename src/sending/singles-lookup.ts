import type { Knex } from 'knex';

/**
 * "Does this account have a due single message, and of what priority?", asked by every paced run each
 * time it re-reads its sources (every few seconds): answered for all the accounts that asked meanwhile in
 * one query, one in flight at a time (group commit style), instead of one query per account. At 10,000
 * paced accounts the per-account reads were 5,000 queries a second of the worker's pool.
 */
export class SinglesLookup {
  private waiting = new Map<string, Array<{ resolve(p: number | null): void; reject(err: unknown): void }>>();
  private running: Promise<void> | null = null;

  constructor(
    private readonly db: Knex,
    private readonly maxBatch = 1_000,
  ) {}

  /** Highest priority among the account's due pending single messages, or null. */
  priority(accountId: string): Promise<number | null> {
    return new Promise((resolve, reject) => {
      const list = this.waiting.get(accountId);
      if (list) list.push({ resolve, reject });
      else this.waiting.set(accountId, [{ resolve, reject }]);
      this.running ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    // Lets the callers of this turn of the event loop join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.waiting.size) {
        const batch = [...this.waiting].slice(0, this.maxBatch);
        for (const [id] of batch) this.waiting.delete(id);
        try {
          const found = await duePriorities(
            this.db,
            batch.map(([id]) => id),
          );
          for (const [id, callers] of batch) for (const c of callers) c.resolve(found.get(id) ?? null);
        } catch (err) {
          for (const [, callers] of batch) for (const c of callers) c.reject(err);
        }
      }
    } finally {
      this.running = null;
    }
  }
}

/** MAX(priority) of due pending singles per account: ranges of idx_account_claim (account_id, status, batch_id, …). */
async function duePriorities(db: Knex, accountIds: string[]): Promise<Map<string, number>> {
  const rows: Array<{ account_id: string; p: number }> = await db('messages')
    .select('account_id')
    .max({ p: 'priority' })
    .whereIn('account_id', accountIds)
    .andWhere({ status: 'pending' })
    .whereNull('batch_id')
    .andWhere((w) => w.whereNull('scheduled_time').orWhere('scheduled_time', '<=', db.fn.now(3)))
    .groupBy('account_id');
  return new Map(rows.map((r) => [r.account_id, Number(r.p)]));
}
