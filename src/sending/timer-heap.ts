/**
 * Many sleepers, one timer: `sleepUntil(at)` resolves at `at` (ms since epoch, never earlier by
 * `Date.now()`), and all pending sleeps of the process share a single `setTimeout` armed for the
 * earliest. Ten thousand paced accounts waiting for their next slot cost ten thousand heap entries,
 * not ten thousand timers.
 */
interface Sleeper {
  at: number;
  seq: number;
  wake(): void;
}

export class TimerHeap {
  private readonly heap: Sleeper[] = [];
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Number.POSITIVE_INFINITY;
  private seq = 0;
  private closed = false;

  /** How many sleeps are pending (diagnostics, tests). */
  get size(): number {
    return this.heap.length;
  }

  /** Whether a timer is armed (at most one, whatever `size` is). */
  get armed(): boolean {
    return this.timer !== null;
  }

  sleepUntil(at: number): Promise<void> {
    if (this.closed || at <= Date.now()) return Promise.resolve();
    return new Promise<void>((wake) => {
      this.push({ at, seq: this.seq++, wake });
      this.arm();
    });
  }

  sleep(ms: number): Promise<void> {
    return this.sleepUntil(Date.now() + Math.max(0, ms));
  }

  /** Wakes every sleeper now, and every later one at once (shutdown: sleepers see they must stop). */
  close(): void {
    this.closed = true;
    this.wakeAll();
  }

  /** Wakes every sleeper now. */
  wakeAll(): void {
    const all = this.heap.splice(0);
    this.disarm();
    for (const s of all) s.wake();
  }

  private fire = (): void => {
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    while (this.heap.length && this.heap[0].at <= now) this.pop().wake();
    this.arm();
  };

  private arm(): void {
    if (!this.heap.length) return this.disarm();
    const at = this.heap[0].at;
    if (this.timer && this.timerAt <= at) return;
    this.disarm();
    this.timerAt = at;
    // setTimeout may fire a millisecond before Date.now() reaches `at`: `fire` then simply re-arms.
    this.timer = setTimeout(this.fire, Math.max(1, at - Date.now()));
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
  }

  private less(a: Sleeper, b: Sleeper): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(s: Sleeper): void {
    const h = this.heap;
    h.push(s);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private pop(): Sleeper {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l], h[m])) m = l;
        if (r < h.length && this.less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}
