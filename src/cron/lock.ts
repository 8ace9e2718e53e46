import { randomBytes } from 'node:crypto';
import type Redis from 'ioredis';

/**
 * A Redis lock owned by a random token: SET NX PX to take it; release and extend only when the token
 * still matches (a Lua script, so check-and-act is atomic), so a process whose lock expired can never
 * release or extend a lock another process has since taken.
 */
// KEYS[1] lock key; ARGV[1] token. Deletes the key only if it holds our token. Returns 1 if deleted.
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
// KEYS[1] lock key; ARGV[1] token, ARGV[2] ttl ms. Extends the key only if it holds our token. Returns 1 if extended.
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

export interface HeldLock {
  key: string;
  token: string;
  /** Extends the lock; false if it was lost. */
  extend(ttlMs: number): Promise<boolean>;
  /** Releases the lock if still ours; false if it had already expired or been taken. */
  release(): Promise<boolean>;
}

export async function acquireLock(redis: Redis, key: string, ttlMs: number): Promise<HeldLock | null> {
  const token = randomBytes(16).toString('hex');
  const ok = await redis.set(key, token, 'PX', ttlMs, 'NX');
  if (ok !== 'OK') return null;
  return {
    key,
    token,
    extend: async (ms) => (await redis.eval(EXTEND, 1, key, token, ms)) === 1,
    release: async () => (await redis.eval(RELEASE, 1, key, token)) === 1,
  };
}
