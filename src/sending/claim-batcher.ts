import type { Knex } from 'knex';
import { claimMessages, claimMessagesOfMany, type ClaimedMessage, type ClaimRequest } from '../db/messages';
import { GroupRead } from './group-read';

/**
 * The paced claims of a process's account runs, claimed together (src/db/messages.ts
 * claimMessagesOfMany): the runs that ask while a claim batch is in flight go in the next one. A run asks
 * for one source at a time; should the same account ask twice at once, the second claims alone.
 */
export class ClaimBatcher {
  private readonly asked = new Map<string, ClaimRequest>();
  private readonly reads: GroupRead<string, ClaimedMessage[]>;

  constructor(
    private readonly db: Knex,
    maxBatch = 500,
  ) {
    this.reads = new GroupRead(async (accountIds) => {
      const requests = accountIds.map((id) => this.asked.get(id)!);
      for (const id of accountIds) this.asked.delete(id);
      return claimMessagesOfMany(this.db, requests);
    }, maxBatch);
  }

  async claim(req: ClaimRequest): Promise<ClaimedMessage[]> {
    if (req.limit <= 0) return [];
    if (this.asked.has(req.accountId)) return claimMessages(this.db, req.accountId, req.taskId, req.limit);
    this.asked.set(req.accountId, req);
    return (await this.reads.get(req.accountId)) ?? [];
  }
}
