import { Emitter } from '@socket.io/redis-emitter';
import type Redis from 'ioredis';
import type { Permission } from '../domain/permissions';
import { REALTIME_EVENT_PERMISSION, type RealtimeEvent } from '../domain/realtime-events';

/** Room every socket of a tenant joins, to close them all (a suspended tenant); no event goes to it. */
export const tenantRoom = (tenantId: string) => `tenant:${tenantId}`;

/**
 * Room of a tenant's sockets whose principal holds `permission`; events are only ever emitted to such
 * rooms, so a socket hears only what its operator or key may read through the API.
 */
export const tenantPermissionRoom = (tenantId: string, permission: Permission) => `tenant:${tenantId}:${permission}`;

/** Room of one principal's sockets (an operator or an API key), to close them when it is revoked. */
export const principalRoom = (kind: 'user' | 'api_key', id: string) => `${kind}:${id}`;

/** Socket.IO adapter channel prefix, shared by the server's Redis adapter and this emitter. */
export const socketChannel = (redisPrefix: string) => `${redisPrefix}:socket.io`;

/**
 * Publishes realtime events from any process (API, workers, cron) through Redis; whichever API process
 * holds the tenant's sockets delivers them. No in-process event bus.
 */
export class RealtimePublisher {
  private readonly emitter: Emitter;
  /** Events that could not be published (Redis unreachable); realtime is best effort, the API has the truth. */
  dropped = 0;

  constructor(redis: Redis, redisPrefix: string) {
    // The emitter fires `publish` and drops the promise; with Redis down it rejects, and an unowned
    // rejection must not reach the process (issue 8). This client owns it: counted and dropped.
    const publisher = {
      publish: (channel: string, message: string | Buffer) =>
        redis.publish(channel, message).catch(() => {
          this.dropped += 1;
          return 0;
        }),
    };
    this.emitter = new Emitter(publisher as unknown as Redis, { key: socketChannel(redisPrefix) });
  }

  toTenant(tenantId: string, event: RealtimeEvent, payload: unknown): void {
    this.emitter.to(tenantPermissionRoom(tenantId, REALTIME_EVENT_PERMISSION[event])).emit(event, payload);
  }

  /**
   * Closes sockets on every API process, after a change that ends their credential: a deactivated,
   * deleted or password-reset operator, revoked API keys, a suspended or deleted tenant. Call it once
   * the change is committed (a socket connecting meanwhile re-checks its credential after joining).
   */
  endSessions(of: { tenantId?: string; userId?: string; apiKeyIds?: readonly string[] }): void {
    const rooms = [
      ...(of.tenantId ? [tenantRoom(of.tenantId)] : []),
      ...(of.userId ? [principalRoom('user', of.userId)] : []),
      ...(of.apiKeyIds ?? []).map((id) => principalRoom('api_key', id)),
    ];
    if (rooms.length > 0) this.emitter.in(rooms).disconnectSockets(true);
  }
}
