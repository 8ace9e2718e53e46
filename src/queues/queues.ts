import { Queue, type ConnectionOptions, type QueueOptions } from 'bullmq';
import type Redis from 'ioredis';
import type { QueueName } from './names';

/** Producer-side queues, created on first use and shared by the process. */
export class Queues {
  private readonly open = new Map<QueueName, Queue>();

  constructor(
    private readonly connection: Redis,
    readonly prefix: string,
  ) {}

  get(name: QueueName): Queue {
    let q = this.open.get(name);
    if (!q) {
      const opts: QueueOptions = {
        connection: this.connection as unknown as ConnectionOptions,
        prefix: this.prefix,
        defaultJobOptions: { removeOnComplete: 1000, removeOnFail: 5000 },
      };
      q = new Queue(name, opts);
      q.on('error', () => undefined); // connection errors surface on the shared client's listener
      this.open.set(name, q);
    }
    return q;
  }

  async close(): Promise<void> {
    await Promise.all([...this.open.values()].map((q) => q.close()));
    this.open.clear();
  }
}
