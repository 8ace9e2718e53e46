import { createHash } from 'node:crypto';
import type { AppContext } from '../context';
import { insertCallbackEvents, type NewCallbackEvent, type StoredOutcome } from '../db/callbacks';
import { GroupCommitter } from './group-commit';
import { enqueueCallbackJobs } from './queue';

/** Replay key of an event: which channel it came through plus that channel's own event identity. */
export function eventKey(source: 'gateway' | 'wecom', ...parts: string[]): string {
  return createHash('sha256').update([source, ...parts].join('\u0000')).digest('hex');
}

/**
 * Stores callbacks durably (group-committed across concurrent requests) and then hands new ones to the
 * queue without making the caller wait for Redis: once `store` resolves, the event is in MySQL and
 * the sender may be acknowledged.
 */
export class CallbackIngestor {
  private readonly committer: GroupCommitter<NewCallbackEvent, StoredOutcome>;

  constructor(
    private readonly ctx: AppContext,
    opts: { maxBatch?: number; maxInFlight?: number; maxPending?: number } = {},
  ) {
    this.committer = new GroupCommitter(
      (events) => insertCallbackEvents(ctx.db, events),
      {
        maxBatch: opts.maxBatch ?? 200,
        // Leave pool connections for everything else the API does.
        maxInFlight: opts.maxInFlight ?? Math.max(1, Math.floor(ctx.config.db.poolMax / 4)),
        maxPending: opts.maxPending ?? 10_000,
      },
      (_events, results) => {
        const fresh = [...new Set(results.filter((r) => !r.duplicate).map((r) => r.id))];
        void enqueueCallbackJobs(this.ctx, fresh);
      },
    );
  }

  store(event: NewCallbackEvent): Promise<StoredOutcome> {
    return this.committer.submit(event);
  }
}
