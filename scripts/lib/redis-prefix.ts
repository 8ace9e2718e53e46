import { createRedis } from '../../src/redis';

/** Deletes every key under a Redis prefix (a test's or a bench's own namespace), by SCAN in pages. */
export async function deleteRedisPrefix(url: string, prefix: string): Promise<void> {
  const redis = createRedis({ url, prefix });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
