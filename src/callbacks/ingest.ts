import { createHash } from 'node:crypto';
import type { AppContext } from '../context';
import { createCallbackEventWriter, type NewCallbackEvent, type StoredOutcome } from '../db/callbacks';
import { GroupCommitter } from './group-commit';
import { enqueueCallbackBatch } from './queue';

const ENQUEUE_BATCH = 500;
const MAX_UNQUEUED = 20_000;

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
    // Its own small pool (see createCallbackEventWriter), a quarter of the main pool's size.
    const inFlight = opts.maxInFlight ?? Math.max(1, Math.floor(ctx.config.db.poolMax / 4));
    const writer = createCallbackEventWriter(ctx.config.db, inFlight);
    ctx.onClose(() => writer.close());
    this.committer = new GroupCommitter(
      (events) => writer.insert(events),
      {
        maxBatch: opts.maxBatch ?? 200,
        maxInFlight: inFlight,
        maxPending: opts.maxPending ?? 10_000,
        // Well under MariaDB's default max_allowed_packet (16 MB), however large single bodies are.
        maxBatchBytes: 4 * 1024 * 1024,
        // Memory bound of bodies waiting for a flush; beyond it the webhook answers 503 (not acknowledged).
        maxPendingBytes: 64 * 1024 * 1024,
        sizeOf: (e) => (e as NewCallbackEvent).rawData.length * 3 + 512,
      },
      (_events, results) => {
        for (const r of results) if (!r.duplicate) this.toEnqueue.add(r.id);
        this.scheduleEnqueue();
      },
    );
  }

  /**
   * Ids of committed events waiting for their job. One batch job at a time is added: the ids that commit
   * meanwhile ride along with the next one (fewer, larger jobs). Bounded: past MAX_UNQUEUED the oldest
   * ids are left to the sweeper (they are safe in MySQL).
   */
  private readonly toEnqueue = new Set<string>();
  private enqueueRunning = false;

  private scheduleEnqueue(): void {
    if (this.toEnqueue.size > MAX_UNQUEUED) {
      const drop = this.toEnqueue.size - MAX_UNQUEUED;
      let i = 0;
      for (const id of this.toEnqueue) {
        if (i++ >= drop) break;
        this.toEnqueue.delete(id);
      }
      this.ctx.logger.warn({ dropped: drop }, 'callback enqueue backlog full; the sweeper will enqueue the rest');
    }
    if (this.enqueueRunning || this.toEnqueue.size === 0) return;
    this.enqueueRunning = true;
    setImmediate(async () => {
      try {
        while (this.toEnqueue.size > 0) {
          const ids: string[] = [];
          for (const id of this.toEnqueue) {
            if (ids.length >= ENQUEUE_BATCH) break;
            ids.push(id);
          }
          for (const id of ids) this.toEnqueue.delete(id);
          await enqueueCallbackBatch(this.ctx, ids);
        }
      } finally {
        this.enqueueRunning = false;
      }
    });
  }

  store(event: NewCallbackEvent): Promise<StoredOutcome> {
    return this.committer.submit(event);
  }
}
