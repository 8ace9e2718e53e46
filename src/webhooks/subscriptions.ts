import type Redis from 'ioredis';
import type { Knex } from 'knex';
import type { Logger } from '../logger';
import { redisKey } from '../redis';

/**
 * Which event types a tenant's active webhook endpoints subscribe to, for publishers on a hot path (the
 * status writer publishes with every flush: one SELECT of webhook_endpoints per flush was ~9 statements
 * per 1,000 messages). Answers are kept per tenant with the tenant's endpoints version, a Redis counter
 * the API increments after every committed change and before it answers (`announceEndpointsChanged`).
 * Each use reads the version (one GET) and reads MySQL again only when it moved: a flush that starts
 * after the API answered sees the change. (A Redis channel announced changes before, and a flush in the
 * moment between the answer and the announcement's arrival used the old answer.) With Redis away nothing
 * is kept and every call reads MySQL (after at most 250 ms); `ttlMs` bounds an answer's age anyway.
 *
 * An answer that is too wide costs nothing but outbox rows: the dispatcher fans events out to the
 * endpoints active at that moment (src/webhooks/dispatcher.ts).
 */
export type SubscribedTypes = string[][];

const versionKey = (prefix: string, tenantId: string) => redisKey(prefix, 'webhooks', 'endpoints-version', tenantId);

/** Moves the tenant's endpoints version (after the commit, before the answer): every kept answer of the tenant is stale from now on. */
export async function announceEndpointsChanged(redis: Redis, prefix: string, tenantId: string, logger?: Logger): Promise<void> {
  try {
    await redis.incr(versionKey(prefix, tenantId));
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
  version: string | null;
  at: number;
  types: Promise<SubscribedTypes>;
}

const UNKNOWN: unique symbol = Symbol('version unknown');
/** How long a flush waits for the version before it reads MySQL instead (Redis slow or away). */
const VERSION_WAIT_MS = 250;

export class EndpointSubscriptions {
  private readonly kept = new Map<string, Kept>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly opts: { ttlMs: number; maxTenants: number } = { ttlMs: 60_000, maxTenants: 10_000 },
  ) {}

  /** The tenant's active endpoints' event types; read with `db` (not a caller's transaction: the answer is shared) when not kept or changed. */
  async typesOf(db: Knex, tenantId: string): Promise<SubscribedTypes> {
    const version = await this.versionOf(tenantId);
    if (version === UNKNOWN) return readSubscribedTypes(db, tenantId);
    const now = Date.now();
    const hit = this.kept.get(tenantId);
    if (hit && hit.version === version && now - hit.at < this.opts.ttlMs) return hit.types;
    if (this.kept.size >= this.opts.maxTenants) this.kept.clear();
    const types = readSubscribedTypes(db, tenantId);
    const entry = { version, at: now, types };
    types.catch(() => {
      if (this.kept.get(tenantId) === entry) this.kept.delete(tenantId);
    });
    this.kept.set(tenantId, entry);
    return types;
  }

  /** The tenant's endpoints version, or UNKNOWN when Redis fails or does not answer in time (a status flush must not wait on it). */
  private async versionOf(tenantId: string): Promise<string | null | typeof UNKNOWN> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<typeof UNKNOWN>((resolve) => {
      timer = setTimeout(() => resolve(UNKNOWN), VERSION_WAIT_MS);
    });
    const read = this.redis.get(versionKey(this.prefix, tenantId)).catch((): typeof UNKNOWN => UNKNOWN);
    try {
      return await Promise.race([read, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
