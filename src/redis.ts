import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisConfig } from './config';

/**
 * The one place a Redis connection is made. With `clusterNodes` set (REDIS_CLUSTER_NODES) it is an ioredis
 * Cluster client, otherwise a plain client on `url`. The Cluster client speaks the same commands (and
 * `defineCommand`, pipelines within one slot, `duplicate()` for BullMQ's blocking connections), so the rest
 * of the code holds it as a `Redis`; what differs on a cluster (keys of one command in one slot, SCAN per
 * master) is handled where it matters: src/redis-keyspace.ts and forEachMaster below.
 *
 * `kind: 'blocking'` is for BullMQ workers (maxRetriesPerRequest must be null, per BullMQ's production
 * guide); `'command'` gives up on a command after two reconnect attempts instead of waiting forever.
 */
export function createRedis(config: RedisConfig, kind: 'command' | 'blocking' = 'command', extra: RedisOptions = {}): Redis {
  const options: RedisOptions = { maxRetriesPerRequest: kind === 'blocking' ? null : 2, lazyConnect: false, ...extra };
  if (!config.clusterNodes?.length) return new Redis(config.url, options);
  // Auto-pipelining is the Cluster client's own option (its commands bypass the nodes' command methods).
  const { retryStrategy, lazyConnect, enableAutoPipelining, ...nodeOptions } = options;
  // A blocking read (BullMQ's BZPOPMIN, at most its drain delay of 5 s) sent to a master that is then
  // killed can wait forever on a cluster: a command timeout fails it instead, and BullMQ reconnects the
  // cluster on "Command timed out" (its cluster recovery), so the queue's worker carries on after a failover.
  if (kind === 'blocking' && nodeOptions.commandTimeout === undefined) nodeOptions.commandTimeout = 15_000;
  const clusterOptions: ClusterOptions = {
    lazyConnect,
    ...(enableAutoPipelining !== undefined ? { enableAutoPipelining } : {}),
    redisOptions: nodeOptions,
    // Reads and writes both go to masters: locks, pacing and queues must read their own writes.
    scaleReads: 'master',
    // A failover (a master killed, its replica promoted) takes node-timeout plus an election: keep
    // retrying redirections and CLUSTERDOWN answers meanwhile instead of failing the command at once.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 100,
    // 64 × 200 ms: enough redirection retries to outlast a failover (node timeout + election, ~2–6 s here).
    maxRedirections: 64,
    slotsRefreshTimeout: 2000,
    ...(retryStrategy ? { clusterRetryStrategy: (times: number) => retryStrategy(times) ?? null } : {}),
  };
  return new Cluster(config.clusterNodes, clusterOptions) as unknown as Redis;
}

export function isCluster(redis: Redis): boolean {
  return (redis as unknown as { isCluster?: boolean }).isCluster === true;
}

/** Runs `fn` on every master of a cluster (SCAN, INFO, FLUSH must), or once on a plain client. */
export async function forEachMaster<T>(redis: Redis, fn: (node: Redis) => Promise<T>): Promise<T[]> {
  if (!isCluster(redis)) return [await fn(redis)];
  const cluster = redis as unknown as Cluster;
  // The node list fills in once the client has the slot map: a first command waits for it.
  if (cluster.status !== 'ready') await cluster.ping();
  const masters = cluster.nodes('master');
  if (!masters.length) throw new Error('redis cluster: no master known');
  return Promise.all(masters.map((node) => fn(node)));
}

/** Key for a non-queue Redis key of the platform, under the configured hash-tagged prefix. */
export function redisKey(prefix: string, ...parts: (string | number)[]): string {
  return [prefix, ...parts].join(':');
}
