import { Queue, type ConnectionOptions, type QueueOptions } from 'bullmq';
import type Redis from 'ioredis';
import type { QueueName } from './names';

/**
 * Producer-side queues, created on first use and shared by the process. A queue lives under the base
 * prefix unless a shard's prefix is given (the message-send queue: one per hash-tag shard, see
 * src/redis-keyspace.ts and `sendQueueFor`).
 */
export class Queues {
  private readonly open = new Map<string, Queue>();

  constructor(
    private readonly connection: Redis,
    readonly prefix: string,
  ) {}

  get(name: QueueName, prefix: string = this.prefix): Queue {
    const id = `${prefix}\u0000${name}`;
    let q = this.open.get(id);
    if (!q) {
      const opts: QueueOptions = {
        connection: this.connection as unknown as ConnectionOptions,
        prefix,
        defaultJobOptions: { removeOnComplete: 1000, removeOnFail: 5000 },
      };
      q = new Queue(name, opts);
      q.on('error', () => undefined); // connection errors surface on the shared client's listener
      this.open.set(id, q);
    }
    return q;
  }

  async close(): Promise<void> {
    await Promise.all([...this.open.values()].map((q) => q.close()));
    this.open.clear();
  }
}
