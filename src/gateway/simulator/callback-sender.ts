import { randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signCallback, type GatewayCallback } from '../callback-protocol';

export interface CallbackSenderOptions {
  url: string | undefined;
  secret: string;
  /** Events waiting to be posted, across all instances; beyond it new events are dropped (counted). */
  maxQueued?: number;
  /** Receipts/messages of one instance merged into one notify-3 callback, at most this many. */
  batchSize?: number;
  /** Parallel POSTs (each instance's events stay in order: one instance is posted by one lane at a time). */
  concurrency?: number;
  maxAttempts?: number;
  retryBaseMs?: number;
  timeoutMs?: number;
}

interface Pending {
  notifyType: number;
  payload: Record<string, unknown>;
}

export interface CallbackStats {
  /** Events accepted into the queue since start (merged notify-3 events count one each). */
  queued: number;
  posted: number;
  failed_attempts: number;
  dropped_overflow: number;
  dropped_after_retries: number;
}

/**
 * Posts signed callbacks to the service. Bounded: a capped queue per simulator, a fixed number of
 * lanes, a few retries with backoff, then the event is dropped and counted (a real gateway does the same).
 */
export class CallbackSender {
  private readonly byGuid = new Map<string, Pending[]>();
  private readonly ready: string[] = [];
  private readonly busy = new Set<string>();
  private queued = 0;
  private lanes = 0;
  private closed = false;
  private readonly idle = new Set<() => void>();
  private readonly agent = new Agent({ keepAliveTimeout: 10_000, connections: 16 });
  readonly stats: CallbackStats = { queued: 0, posted: 0, failed_attempts: 0, dropped_overflow: 0, dropped_after_retries: 0 };
  private readonly o: Required<Omit<CallbackSenderOptions, 'url'>> & { url: string | undefined };

  constructor(opts: CallbackSenderOptions) {
    this.o = {
      maxQueued: 20_000,
      batchSize: 100,
      concurrency: 4,
      maxAttempts: 4,
      retryBaseMs: 200,
      timeoutMs: 5000,
      ...opts,
    };
  }

  setUrl(url: string | undefined): void {
    this.o.url = url;
  }

  enqueue(guid: string, notifyType: number, payload: Record<string, unknown>): void {
    if (this.closed || !this.o.url) return;
    if (this.queued >= this.o.maxQueued) {
      this.stats.dropped_overflow++;
      return;
    }
    let q = this.byGuid.get(guid);
    if (!q) {
      q = [];
      this.byGuid.set(guid, q);
    }
    q.push({ notifyType, payload });
    this.queued++;
    this.stats.queued++;
    if (q.length === 1 && !this.busy.has(guid)) this.ready.push(guid);
    this.pump();
  }

  private pump(): void {
    while (this.lanes < this.o.concurrency && this.ready.length > 0) {
      const guid = this.ready.shift()!;
      this.busy.add(guid);
      this.lanes++;
      void this.drainOne(guid).finally(() => {
        this.lanes--;
        this.busy.delete(guid);
        const q = this.byGuid.get(guid);
        if (q && q.length > 0) this.ready.push(guid);
        else this.byGuid.delete(guid);
        if (this.lanes === 0 && this.ready.length === 0) for (const fn of this.idle) fn();
        this.pump();
      });
    }
  }

  /** Posts the next event of `guid`, merging consecutive notify-3 events into one batch. */
  private async drainOne(guid: string): Promise<void> {
    const q = this.byGuid.get(guid);
    if (!q || q.length === 0) return;
    const first = q.shift()!;
    this.queued--;
    let payload = first.payload;
    if (first.notifyType === 3) {
      const messages = [...((first.payload.messages as unknown[]) ?? [])];
      while (q.length > 0 && q[0].notifyType === 3 && messages.length < this.o.batchSize) {
        messages.push(...((q.shift()!.payload.messages as unknown[]) ?? []));
        this.queued--;
      }
      payload = { messages };
    }
    const body: GatewayCallback = {
      event_id: randomUUID(),
      guid,
      notify_type: first.notifyType,
      payload,
      timestamp: Math.floor(Date.now() / 1000),
    };
    const raw = JSON.stringify(body);
    for (let attempt = 1; attempt <= this.o.maxAttempts && !this.closed; attempt++) {
      if (await this.post(raw, body.timestamp)) {
        this.stats.posted++;
        return;
      }
      this.stats.failed_attempts++;
      if (attempt < this.o.maxAttempts) await sleep(this.o.retryBaseMs * 2 ** (attempt - 1));
    }
    this.stats.dropped_after_retries++;
  }

  private async post(raw: string, timestamp: number): Promise<boolean> {
    const url = this.o.url;
    if (!url) return false;
    try {
      const res = await request(url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          'content-type': 'application/json',
          [TIMESTAMP_HEADER]: String(timestamp),
          [SIGNATURE_HEADER]: signCallback(this.o.secret, timestamp, raw),
        },
        body: raw,
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
      await res.body.dump();
      return res.statusCode >= 200 && res.statusCode < 300;
    } catch {
      return false;
    }
  }

  get pending(): number {
    return this.queued;
  }

  /** Resolves once nothing is queued or in flight (tests, graceful stop). */
  async drained(timeoutMs = 5000): Promise<void> {
    if (this.lanes === 0 && this.ready.length === 0) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.idle.delete(done);
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(done, timeoutMs);
      this.idle.add(done);
    });
  }

  clear(): void {
    this.byGuid.clear();
    this.ready.length = 0;
    this.queued = 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.clear();
    await this.agent.close().catch(() => undefined);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
