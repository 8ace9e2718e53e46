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
 * keep theirs. A process holds (claimed, in flight or waiting for a slot) up to HELD_PER_SLOT times as
 * many, so claims are large; a claim waits until half of that is free, and skips endpoints with less than
 * half of their share free, so claims stay batched under load instead of one per finished request.
 */
export interface PumpOptions {
  concurrency: number;
  perEndpoint: number;
  /** Poll interval when nothing was due. */
  idleMs: number;
  /** How long a claim holds a delivery: longer than waiting for a slot (a timeout or two) plus the request. */
  leaseMs: number;
}

/** Claimed deliveries per slot: the ones beyond the slots wait in this process for one. */
const HELD_PER_SLOT = 4;

/**
 * A claimed delivery waits behind at most HELD_PER_SLOT - 1 waves of requests of its endpoint, and of all
 * (each wave ends within the timeout), then takes the timeout itself: its lease outlasts all of that.
 */
export const leaseMsFor = (timeoutMs: number): number => (HELD_PER_SLOT + 1) * timeoutMs + 10_000;
/** Outcomes waiting for their write beyond which no more is claimed (bounded memory when MySQL is slow). */
const MAX_RECORD_BACKLOG = 2000;

/** A count in all and per endpoint, each with a cap. */
export class Tally {
  private total = 0;
  private readonly byEndpoint = new Map<string, number>();
  constructor(
    readonly cap: number,
    readonly capPerEndpoint: number,
  ) {}

  get count(): number {
    return this.total;
  }

  get room(): number {
    return this.cap - this.total;
  }

  roomOf = (endpointId: string): number => this.capPerEndpoint - (this.byEndpoint.get(endpointId) ?? 0);

  /** Endpoints with less than `min` room. */
  crowded(min: number): string[] {
    return [...this.byEndpoint].filter(([, n]) => this.capPerEndpoint - n < min).map(([id]) => id);
  }

  take(endpointId: string): void {
    this.total++;
    this.byEndpoint.set(endpointId, (this.byEndpoint.get(endpointId) ?? 0) + 1);
  }

  release(endpointId: string): void {
    this.total--;
    const n = (this.byEndpoint.get(endpointId) ?? 1) - 1;
    if (n > 0) this.byEndpoint.set(endpointId, n);
    else this.byEndpoint.delete(endpointId);
  }
}

/** What a process holds and has in flight; pure bookkeeping, and when a claim is worth making. */
export class DeliverySlots {
  readonly inFlight: Tally;
  readonly held: Tally;
  /** A claim is worth making with this much room (in all, and for an endpoint to be included). */
  readonly claimAt: number;
  readonly claimAtPerEndpoint: number;

  constructor(concurrency: number, perEndpoint: number) {
    const per = Math.min(perEndpoint, concurrency);
    this.inFlight = new Tally(concurrency, per);
    this.held = new Tally(HELD_PER_SLOT * concurrency, HELD_PER_SLOT * per);
    this.claimAt = Math.ceil(this.held.cap / 2);
    this.claimAtPerEndpoint = Math.ceil(this.held.capPerEndpoint / 2);
  }

  worthClaiming(): boolean {
    return this.held.count === 0 || this.held.room >= this.claimAt;
  }

  /** Endpoints a claim leaves out: too little room to be worth it. */
  crowded(): string[] {
    return this.held.crowded(this.claimAtPerEndpoint);
  }

  canStart(endpointId: string): boolean {
    return this.inFlight.room > 0 && this.inFlight.roomOf(endpointId) > 0;
  }

  /** After a delivery ended: did that just make a claim worth making (in all, or for its endpoint)? */
  justWorthClaiming(endpointId: string): boolean {
    return this.held.room === this.claimAt || this.held.roomOf(endpointId) === this.claimAtPerEndpoint;
  }
}

export class DeliveryPump {
  private readonly slots: DeliverySlots;
  private readonly recorder: AttemptRecorder;
  /** Claimed, waiting for a slot (at most the held cap less those in flight). */
  private ready: ClaimedDelivery[] = [];
  private readonly attempts = new Set<Promise<void>>();
  private stopped = false;
  private wake: (() => void) | undefined;
  /** A poke since the loop last looked: its next pause ends at once. */
  private poked = false;
  private readonly loop: Promise<void>;

  constructor(
    private readonly ctx: DeliveryCtx,
    private readonly sender: WebhookHttpSender,
    private readonly endpoints: EndpointCache,
    private readonly opts: PumpOptions,
  ) {
    this.slots = new DeliverySlots(opts.concurrency, opts.perEndpoint);
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

  /**
   * Stops claiming, cuts the requests in flight (recorded as failed attempts, retried later); claimed
   * deliveries not started stay pending under their lease.
   */
  async close(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    this.ready = [];
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
      const limit = this.slots.held.room;
      let claimed: ClaimedDelivery[];
      try {
        claimed = await claimDueDeliveries(this.ctx.db, {
          limit,
          roomOf: this.slots.held.roomOf,
          full: this.slots.crowded(),
          leaseUntil: new Date(Date.now() + this.opts.leaseMs),
        });
      } catch (err) {
        this.ctx.logger.warn({ err: (err as Error).message }, 'webhook delivery claim failed; retrying');
        await this.pause(1000);
        continue;
      }
      if (this.stopped) break; // claimed but not started: due again when the lease runs out
      for (const row of claimed) this.slots.held.take(row.endpoint_id);
      this.ready.push(...claimed);
      this.startWhatFits();
      // Fewer than asked: nothing more is due, or only endpoints without room have any. Wait for new
      // deliveries, room, or the poll.
      if (claimed.length < limit) await this.pause(this.opts.idleMs);
    }
  }

  /** Starts the waiting deliveries that have a slot, oldest first. */
  private startWhatFits(): void {
    if (this.stopped || this.ready.length === 0) return;
    const waiting: ClaimedDelivery[] = [];
    for (const row of this.ready) {
      if (this.slots.canStart(row.endpoint_id)) this.start(row);
      else waiting.push(row);
    }
    this.ready = waiting;
  }

  private start(row: ClaimedDelivery): void {
    this.slots.inFlight.take(row.endpoint_id);
    const attempt = this.attempt(row).finally(() => this.attempts.delete(attempt));
    this.attempts.add(attempt);
  }

  private async attempt(row: ClaimedDelivery): Promise<void> {
    try {
      let result;
      try {
        result = await attemptDelivery(this.ctx, this.sender, this.endpoints, row);
      } finally {
        this.slots.inFlight.release(row.endpoint_id);
        this.slots.held.release(row.endpoint_id);
        this.startWhatFits();
        if (this.slots.justWorthClaiming(row.endpoint_id)) this.poke();
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
