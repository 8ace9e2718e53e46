import type { AttemptRecord } from '../db/webhook-deliveries';

/**
 * Group commit of attempt outcomes: outcomes that arrive while a write is under way go together in the
 * next one, so under load one multi-row UPDATE records many attempts and when idle an outcome is written
 * at once. A failed write is logged and dropped: those deliveries stay pending under their lease and are
 * attempted again when it runs out (at least once, same webhook-id).
 */
const MAX_ROWS_PER_WRITE = 500;

export class AttemptRecorder {
  private waiting: Array<{ record: AttemptRecord; written: () => void }> = [];
  private writing: Promise<void> | undefined;

  constructor(
    private readonly write: (records: AttemptRecord[]) => Promise<void>,
    private readonly onError: (err: Error, records: number) => void,
  ) {}

  /** Outcomes not yet written (the pump claims no more while this is high). */
  get backlog(): number {
    return this.waiting.length;
  }

  /** Resolves once the outcome's write has ended (it never rejects). */
  record(record: AttemptRecord): Promise<void> {
    return new Promise((written) => {
      this.waiting.push({ record, written });
      this.writing ??= this.writeAll();
    });
  }

  /** Resolves when everything recorded so far is written. */
  async drain(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async writeAll(): Promise<void> {
    while (this.waiting.length) {
      const group = this.waiting.splice(0, MAX_ROWS_PER_WRITE);
      try {
        await this.write(group.map((g) => g.record));
      } catch (err) {
        this.onError(err as Error, group.length);
      }
      for (const g of group) g.written();
    }
    this.writing = undefined;
  }
}
