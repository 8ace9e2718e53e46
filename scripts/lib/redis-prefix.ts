import type { RedisConfig } from '../../src/config';
import { createRedis, forEachMaster } from '../../src/redis';
import { allShardPrefixes } from '../../src/redis-keyspace';

/**
 * Deletes every key of a namespace (a test's or a bench's): its base prefix and each hash-tag shard's
 * (src/redis-keyspace.ts). SCAN in pages on every master when it is a Redis Cluster; keys are deleted
 * one command each, since one page may span slots.
 */
export async function deleteRedisPrefix(config: RedisConfig): Promise<void> {
  const prefixes = [...new Set([config.prefix, ...allShardPrefixes(config)])];
  const redis = createRedis(config);
  try {
    await forEachMaster(redis, async (node) => {
      for (const prefix of prefixes) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', `${globEscape(prefix)}*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length) {
            const pipe = node.pipeline();
            for (const key of keys) pipe.unlink(key);
            await pipe.exec();
          }
        } while (cursor !== '0');
      }
    });
  } finally {
    redis.disconnect();
  }
}

const globEscape = (s: string) => s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
