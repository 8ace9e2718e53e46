/**
 * When, on this process's clock, a gateway surely counted a send against its rate limiter, from the
 * `counted_at` it reports (its own clock) — without assuming the two clocks agree.
 *
 * Offset θ = gateway clock − local clock. A send counted at gateway time g was answered here at local
 * time a, and counted no later than its answer came back, so θ ≥ g − a. The largest g − a seen is a
 * lower bound θlow of θ, hence the count happened at local time g − θ ≤ g − θlow: a bound that is never
 * early, whatever the skew, and only as late as the fastest answer path seen (a millisecond or less on
 * one host, versus a whole round trip plus event-loop lag for "the answer came back").
 *
 * Samples age out (two buckets of `windowMs`), so a gateway clock stepped back is trusted again within
 * two windows; until then a strict limiter may refuse a send, which the sender answers with a back-off.
 * O(1) state per gateway.
 */
export class CountClock {
  private current = Number.NEGATIVE_INFINITY;
  private previous = Number.NEGATIVE_INFINITY;
  private bucketStart = 0;

  constructor(private readonly windowMs = 30_000) {}

  /** The local time by which the send reported as counted at gateway time `countedAt` was counted; `answeredAt` bounds it. */
  countedBy(countedAt: number, answeredAt: number): number {
    if (answeredAt - this.bucketStart >= this.windowMs) {
      this.previous = answeredAt - this.bucketStart >= 2 * this.windowMs ? Number.NEGATIVE_INFINITY : this.current;
      this.current = Number.NEGATIVE_INFINITY;
      this.bucketStart = answeredAt;
    }
    this.current = Math.max(this.current, countedAt - answeredAt);
    const low = Math.max(this.current, this.previous);
    return Math.min(answeredAt, countedAt - low);
  }
}
