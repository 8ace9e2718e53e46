/**
 * A fixed number of slots shared by a process's account runs, handed out first come, first served.
 * `take` resolves with a release function (idempotent) once a slot is free; a waiter is one callback in
 * a queue, holding no query and no rows. After `close` every taker goes through at once (runs see that
 * they must stop).
 */
export class Slots {
  private readonly waiting: Array<() => void> = [];
  private closed = false;

  constructor(private free: number) {}

  async take(): Promise<() => void> {
    if (this.closed) return () => undefined;
    if (this.free > 0) this.free -= 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free += 1;
    };
  }

  /** Runs `fn` holding a slot. */
  async with<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.take();
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Takers waiting for a slot now (diagnostics). */
  get queued(): number {
    return this.waiting.length;
  }

  close(): void {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w();
  }
}
