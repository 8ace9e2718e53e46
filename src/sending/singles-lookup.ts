import type { Knex } from 'knex';
import { GroupRead } from './group-read';

/**
 * "Does this account have a due single message, and of what priority?", asked by every paced run each
 * time it re-reads its sources (every few seconds): answered for all the accounts that asked meanwhile in
 * one query, one in flight at a time (group commit style), instead of one query per account. At 10,000
 * paced accounts the per-account reads were 5,000 queries a second of the worker's pool.
 */
export class SinglesLookup {
  private readonly reads: GroupRead<string, number>;

  constructor(db: Knex, maxBatch = 1_000) {
    this.reads = new GroupRead((accountIds) => duePriorities(db, accountIds), maxBatch);
  }

  /** Highest priority among the account's due pending single messages, or null. */
  async priority(accountId: string): Promise<number | null> {
    return (await this.reads.get(accountId)) ?? null;
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
