import type Redis from 'ioredis';
import type { Knex } from 'knex';
import type { RedisConfig } from '../config';
import type { Logger } from '../logger';
import { createRedis, redisKey } from '../redis';

/**
 * Which event types a tenant's active webhook endpoints subscribe to, for publishers on a hot path (the
 * status writer publishes with every flush: one SELECT of webhook_endpoints per flush was ~9 statements
 * per 1,000 messages). Answers are kept per tenant and dropped when the tenant's endpoints change: the
 * API announces every change on a Redis channel after its commit (`announceEndpointsChanged`), and each
 * process listening here forgets that tenant. While the listener is not subscribed (starting, Redis
 * away, reconnecting) nothing is kept and every call reads MySQL, and everything kept is forgotten when
 * it subscribes again, so a change announced meanwhile cannot be missed. `ttlMs` bounds an answer's age
 * anyway.
 *
 * An answer that is too wide costs nothing but outbox rows: the dispatcher fans events out to the
 * endpoints active at that moment (src/webhooks/dispatcher.ts).
 */
export type SubscribedTypes = string[][];

export const endpointsChannel = (prefix: string) => redisKey(prefix, 'webhooks', 'endpoints-changed');

/** Tells every process's EndpointSubscriptions that the tenant's endpoints changed (after the commit). */
export async function announceEndpointsChanged(redis: Redis, prefix: string, tenantId: string, logger?: Logger): Promise<void> {
  try {
    await redis.publish(endpointsChannel(prefix), tenantId);
  } catch (err) {
    // Kept answers then live out their TTL at most.
    logger?.warn({ err: (err as Error).message, tenantId }, 'webhook endpoint change not announced');
  }
}

export async function readSubscribedTypes(db: Knex | Knex.Transaction, tenantId: string): Promise<SubscribedTypes> {
  const endpoints: Array<{ event_types: string | string[] }> = await db('webhook_endpoints').select('event_types').where({ tenant_id: tenantId, active: 1 });
  return endpoints.map((e) => (typeof e.event_types === 'string' ? (JSON.parse(e.event_types) as string[]) : e.event_types));
}

interface Kept {
  at: number;
  types: Promise<SubscribedTypes>;
}

export class EndpointSubscriptions {
  private readonly kept = new Map<string, Kept>();
  private readonly listener: Redis;
  private listening = false;
  private closed = false;

  constructor(
    redisConfig: RedisConfig,
    private readonly logger: Logger,
    private readonly opts: { ttlMs: number; maxTenants: number } = { ttlMs: 60_000, maxTenants: 10_000 },
  ) {
    const channel = endpointsChannel(redisConfig.prefix);
    // Its own connection: a subscribed connection takes no other command.
    this.listener = createRedis(redisConfig, 'command', { maxRetriesPerRequest: null, autoResubscribe: false });
    this.listener.on('error', () => undefined);
    const stopListening = () => {
      this.listening = false;
      this.kept.clear();
    };
    this.listener.on('close', stopListening);
    this.listener.on('reconnecting', stopListening);
    this.listener.on('ready', () => {
      if (this.closed) return;
      this.listener.subscribe(channel).then(
        () => {
          // Whatever changed while not subscribed is unknown: start from nothing kept.
          this.kept.clear();
          this.listening = true;
        },
        (err: unknown) => this.logger.warn({ err: (err as Error).message }, 'webhook endpoint changes not subscribed; endpoints read per publish'),
      );
    });
    this.listener.on('message', (ch: string, tenantId: string) => {
      if (ch === channel) this.kept.delete(tenantId);
    });
  }

  /** Whether answers are being kept (the listener is subscribed); tests wait for it. */
  get isListening(): boolean {
    return this.listening;
  }

  /** The tenant's active endpoints' event types; read with `db` (not a caller's transaction: the answer is shared) when not kept. */
  typesOf(db: Knex, tenantId: string): Promise<SubscribedTypes> {
    if (!this.listening) return readSubscribedTypes(db, tenantId);
    const now = Date.now();
    const hit = this.kept.get(tenantId);
    if (hit && now - hit.at < this.opts.ttlMs) return hit.types;
    if (this.kept.size >= this.opts.maxTenants) this.kept.clear();
    const types = readSubscribedTypes(db, tenantId);
    const entry = { at: now, types };
    types.catch(() => {
      if (this.kept.get(tenantId) === entry) this.kept.delete(tenantId);
    });
    this.kept.set(tenantId, entry);
    return types;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listening = false;
    this.kept.clear();
    this.listener.disconnect();
  }
}
