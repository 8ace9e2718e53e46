import Redis, { type RedisOptions } from 'ioredis';
import type { Config } from './config';

/**
 * `kind: 'blocking'` is for BullMQ workers (maxRetriesPerRequest must be null, per BullMQ's production
 * guide); `'command'` gives up on a command after two reconnect attempts instead of waiting forever.
 */
export function createRedis(config: Config['redis'], kind: 'command' | 'blocking' = 'command', extra: RedisOptions = {}): Redis {
  return new Redis(config.url, {
    maxRetriesPerRequest: kind === 'blocking' ? null : 2,
    lazyConnect: false,
    ...extra,
  });
}

/** Key for a non-queue Redis key of the platform, under the configured hash-tagged prefix. */
export function redisKey(prefix: string, ...parts: (string | number)[]): string {
  return [prefix, ...parts].join(':');
}
