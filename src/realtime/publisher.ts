import { Emitter } from '@socket.io/redis-emitter';
import type Redis from 'ioredis';

/** Room every socket of a tenant joins; events are only ever emitted to such rooms. */
export const tenantRoom = (tenantId: string) => `tenant:${tenantId}`;

/** Socket.IO adapter channel prefix, shared by the server's Redis adapter and this emitter. */
export const socketChannel = (redisPrefix: string) => `${redisPrefix}:socket.io`;

/**
 * Publishes realtime events from any process (API, workers, cron) through Redis; whichever API process
 * holds the tenant's sockets delivers them. No in-process event bus.
 */
export class RealtimePublisher {
  private readonly emitter: Emitter;

  constructor(redis: Redis, redisPrefix: string) {
    this.emitter = new Emitter(redis, { key: socketChannel(redisPrefix) });
  }

  toTenant(tenantId: string, event: string, payload: unknown): void {
    this.emitter.to(tenantRoom(tenantId)).emit(event, payload);
  }
}
