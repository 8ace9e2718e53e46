/**
 * Group commit: concurrent callers' items are written together. While fewer than `maxInFlight` flushes
 * are running, a new item is flushed on the next turn of the event loop (together with whatever else
 * arrived in that turn), so a lone request pays no waiting; under load, items pile up while flushes run
 * and the next flush takes up to `maxBatch` of them in one statement. Each caller's promise settles
 * after its flush commits. `maxPending` bounds memory: beyond it, `submit` refuses at once.
 */
export interface GroupCommitOptions {
  maxBatch: number;
  maxInFlight: number;
  maxPending: number;
  /** With `sizeOf`: a batch stops growing at this many bytes (one statement must fit max_allowed_packet). */
  maxBatchBytes?: number;
  /** With `sizeOf`: bytes waiting (not yet in a flush) beyond which `submit` refuses. */
  maxPendingBytes?: number;
  sizeOf?: (item: unknown) => number;
}

export class OverloadedError extends Error {
  constructor() {
    super('too many pending writes');
    this.name = 'OverloadedError';
  }
}

interface Pending<I, O> {
  item: I;
  bytes: number;
  resolve(value: O): void;
  reject(err: unknown): void;
}

export class GroupCommitter<I, O> {
  private readonly queue: Array<Pending<I, O>> = [];
  private inFlight = 0;
  private scheduled = false;
  private pendingBytes = 0;

  constructor(
    private readonly flush: (items: I[]) => Promise<O[]>,
    private readonly opts: GroupCommitOptions,
    private readonly afterFlush?: (items: I[], results: O[]) => void,
  ) {}

  submit(item: I): Promise<O> {
    const bytes = this.opts.sizeOf ? this.opts.sizeOf(item) : 0;
    if (this.queue.length >= this.opts.maxPending) return Promise.reject(new OverloadedError());
    if (this.opts.maxPendingBytes && this.pendingBytes + bytes > this.opts.maxPendingBytes) return Promise.reject(new OverloadedError());
    this.pendingBytes += bytes;
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, bytes, resolve, reject });
      this.schedule();
    });
  }

  get pending(): number {
    return this.queue.length;
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.opts.maxInFlight || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      while (this.inFlight < this.opts.maxInFlight && this.queue.length > 0) {
        void this.run(this.queue.splice(0, this.batchLength()));
      }
    });
  }

  /** How many queued items the next batch takes: up to maxBatch, and within maxBatchBytes (at least one). */
  private batchLength(): number {
    const { maxBatch, maxBatchBytes, sizeOf } = this.opts;
    const n = Math.min(maxBatch, this.queue.length);
    if (!maxBatchBytes || !sizeOf) return n;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      bytes += this.queue[i].bytes;
      if (bytes > maxBatchBytes) return Math.max(1, i);
    }
    return n;
  }

  private async run(batch: Array<Pending<I, O>>): Promise<void> {
    this.inFlight++;
    for (const p of batch) this.pendingBytes -= p.bytes;
    try {
      const items = batch.map((p) => p.item);
      const results = await this.flush(items);
      batch.forEach((p, i) => p.resolve(results[i]));
      this.afterFlush?.(items, results);
    } catch (err) {
      for (const p of batch) p.reject(err);
    } finally {
      this.inFlight--;
      this.schedule();
    }
  }
}
