import type Redis from 'ioredis';
import type { RedisConfig } from '../../src/config';
import { createRedis } from '../../src/redis';

/**
 * A Redis client of an address nothing listens on (an outage), its connection errors swallowed.
 * `disconnectTimeout: 0`: ioredis's disconnect() arms a ref'd timer (2 s by default) that waits for the
 * socket's 'close', which already fired, so it kept the jest worker alive past the run ("a worker
 * process has failed to exit gracefully").
 */
export function unreachableRedis(config: RedisConfig, kind: 'command' | 'blocking', extra: Parameters<typeof createRedis>[2] = {}): Redis {
  const redis = createRedis(config, kind, { ...extra, disconnectTimeout: 0 });
  redis.on('error', () => undefined);
  return redis;
}
