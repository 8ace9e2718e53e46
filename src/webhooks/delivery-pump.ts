import { claimDueDeliveries, recordAttempts, type ClaimedDelivery } from '../db/webhook-deliveries';
import { AttemptRecorder } from './attempt-recorder';
import { attemptDelivery, disableAndTell, type DeliveryCtx, type EndpointCache } from './delivery';
import type { WebhookHttpSender } from './http-sender';

/**
 * The delivery loop of one process: claims due deliveries straight from `webhook_deliveries` (fresh ones,
 * retries whose time came, re-deliveries, and those whose worker died: their lease ran out), POSTs them
 * side by side over keep-alive connections, and records the outcomes by group commit. No queue job per
 * delivery: a claim is one transaction for many deliveries, a retry is a next_attempt_at.
 *
 * Slots: at most `concurrency` requests in flight, at most `perEndpoint` of them to one endpoint, so an
 * endpoint that hangs until the timeout holds only its own slots and other endpoints (other tenants)
 * keep theirs. A claim waits until a quarter of the slots are free, so claims stay batched under load.
 */
export interface PumpOptions {
  concurrency: number;
  perEndpoint: number;
  /** Poll interval when nothing was due. */
  idleMs: number;
  /** How long a claim holds a delivery; longer than a request may take (the timeout). */
  leaseMs: number;
}

/** Outcomes waiting for their write beyond which no more is claimed (bounded memory when MySQL is slow). */
const MAX_RECORD_BACKLOG = 2000;

/** In-flight requests per endpoint and in all; pure bookkeeping. */
export class DeliverySlots {
  private inFlight = 0;
  private readonly byEndpoint = new Map<string, number>();
  constructor(
    readonly concurrency: number,
    readonly perEndpoint: number,
  ) {}

  get free(): number {
    return this.concurrency - this.inFlight;
  }

  get busy(): number {
    return this.inFlight;
  }

  /** Room left for one endpoint. */
  roomOf = (endpointId: string): number => this.perEndpoint - (this.byEndpoint.get(endpointId) ?? 0);

  /** Endpoints with no room left. */
  full(): string[] {
    return [...this.byEndpoint].filter(([, n]) => n >= this.perEndpoint).map(([id]) => id);
  }

  take(endpointId: string): void {
    this.inFlight++;
    this.byEndpoint.set(endpointId, (this.byEndpoint.get(endpointId) ?? 0) + 1);
  }

  release(endpointId: string): void {
    this.inFlight--;
    const n = (this.byEndpoint.get(endpointId) ?? 1) - 1;
    if (n > 0) this.byEndpoint.set(endpointId, n);
    else this.byEndpoint.delete(endpointId);
  }

  /** Worth a claim: nothing in flight, or a quarter of the slots free. */
  worthClaiming(): boolean {
    return this.inFlight === 0 || this.free >= Math.max(1, Math.ceil(this.concurrency / 4));
  }
}

export class DeliveryPump {
  private readonly slots: DeliverySlots;
  private readonly recorder: AttemptRecorder;
  private readonly attempts = new Set<Promise<void>>();
  private stopped = false;
  private wake: (() => void) | undefined;
  /** A poke or freed slots since the loop last looked: its next pause ends at once. */
  private poked = false;
  private readonly loop: Promise<void>;

  constructor(
    private readonly ctx: DeliveryCtx,
    private readonly sender: WebhookHttpSender,
    private readonly endpoints: EndpointCache,
    private readonly opts: PumpOptions,
  ) {
    this.slots = new DeliverySlots(opts.concurrency, Math.min(opts.perEndpoint, opts.concurrency));
    this.recorder = new AttemptRecorder(
      (records) => recordAttempts(ctx.db, records),
      (err, n) => ctx.logger.warn({ err: err.message, deliveries: n }, 'webhook attempts could not be recorded; they are attempted again when their lease runs out'),
    );
    this.loop = this.run();
  }

  /** New deliveries are due (the dispatcher made some): claim now rather than at the next poll. */
  poke(): void {
    this.poked = true;
    this.wake?.();
  }

  /** Stops claiming, cuts the requests in flight (they are recorded as failed attempts and retried), writes what is left. */
  async close(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    this.sender.close();
    while (this.attempts.size) await Promise.all(this.attempts);
    await this.recorder.drain();
  }

  // The loop owns its errors: MySQL down means waiting, never exiting.
  private async run(): Promise<void> {
    while (!this.stopped) {
      if (!this.slots.worthClaiming() || this.recorder.backlog > MAX_RECORD_BACKLOG) {
        await this.pause(this.opts.idleMs);
        continue;
      }
      const limit = this.slots.free;
      let claimed: ClaimedDelivery[];
      try {
        claimed = await claimDueDeliveries(this.ctx.db, { limit, roomOf: this.slots.roomOf, full: this.slots.full(), leaseUntil: new Date(Date.now() + this.opts.leaseMs) });
      } catch (err) {
        this.ctx.logger.warn({ err: (err as Error).message }, 'webhook delivery claim failed; retrying');
        await this.pause(1000);
        continue;
      }
      for (const row of claimed) this.start(row);
      // Fewer than asked: nothing more is due, or only endpoints without room have any. Wait for new
      // deliveries, freed slots or the poll.
      if (claimed.length < limit) await this.pause(this.opts.idleMs);
    }
  }

  private start(row: ClaimedDelivery): void {
    this.slots.take(row.endpoint_id);
    const attempt = this.attempt(row).finally(() => this.attempts.delete(attempt));
    this.attempts.add(attempt);
  }

  private async attempt(row: ClaimedDelivery): Promise<void> {
    try {
      let result;
      try {
        result = await attemptDelivery(this.ctx, this.sender, this.endpoints, row);
      } finally {
        this.slots.release(row.endpoint_id);
        if (this.slots.worthClaiming()) this.poke();
      }
      await this.recorder.record(result.record);
      if (result.disable) {
        await disableAndTell(this.ctx, result.disable.endpoint, result.disable.reason);
        this.endpoints.forget(result.disable.endpoint.id);
      }
    } catch (err) {
      // Endpoint lookup or disabling failed (MySQL trouble): the delivery stays pending and its lease runs out.
      this.ctx.logger.warn({ deliveryId: row.id, err: (err as Error).message }, 'webhook attempt failed before its outcome was known');
    }
  }

  private pause(ms: number): Promise<void> {
    if (this.stopped || this.poked) {
      this.poked = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}
