import { randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import { accountPrefix, tenantPrefix, type ShardedPrefix } from '../redis-keyspace';
import { redisKey } from '../redis';

/**
 * Redis state of the sender, all under the platform prefix: per-account GCRA pacing (orphan re-sends
 * and back-offs; fresh sends take pace and daily cap together in src/sending/limits.ts), key names, and
 * the expansion lock. Times come from Redis (`TIME`) so every process shares one clock.
 */

/**
 * throttleReserve — GCRA slot reservation (as in src/sending/limits.ts, without the daily cap).
 * KEYS[1] theoretical arrival time (ms). ARGV[1] interval ms, ARGV[2] wanted slots, ARGV[3] horizon ms.
 * Returns {granted, firstOffsetMs (first slot relative to now), waitMs, nextTat, now}.
 */
const THROTTLE_RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local horizon = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(tat, now)
local limit = now + horizon
if start > limit then
  return {0, start - now, start - limit, tostring(start), tostring(now)}
end
local granted = math.min(want, math.floor((limit - start) / interval) + 1)
local nextTat = start + granted * interval
redis.call('SET', KEYS[1], tostring(nextTat), 'PX', math.floor(nextTat - now + 60000))
return {granted, start - now, 0, tostring(nextTat), tostring(now)}`;

/** throttleBackoff — no slot before now + ARGV[1] ms (the gateway said rate limited). KEYS[1]. */
const THROTTLE_BACKOFF = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local want = now + tonumber(ARGV[1])
if want > tat then redis.call('SET', KEYS[1], tostring(want), 'PX', tonumber(ARGV[1]) + 60000) end
return want - now`;

/** lockRenew / lockRelease — only the token holder may extend or delete. */
const LOCK_RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const LOCK_RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

interface SenderCommands {
  wwpThrottleReserve(key: string, interval: number, want: number, horizon: number): Promise<[number, number, number, string, string]>;
  wwpThrottleBackoff(key: string, ms: number): Promise<number>;
  wwpLockRenew(key: string, token: string, ttlMs: number): Promise<number>;
  wwpLockRelease(key: string, token: string): Promise<number>;
}

const defined = new WeakSet<Redis>();

export function senderRedis(redis: Redis): Redis & SenderCommands {
  if (!defined.has(redis)) {
    redis.defineCommand('wwpThrottleReserve', { numberOfKeys: 1, lua: THROTTLE_RESERVE });
    redis.defineCommand('wwpThrottleBackoff', { numberOfKeys: 1, lua: THROTTLE_BACKOFF });
    redis.defineCommand('wwpLockRenew', { numberOfKeys: 1, lua: LOCK_RENEW });
    redis.defineCommand('wwpLockRelease', { numberOfKeys: 1, lua: LOCK_RELEASE });
    defined.add(redis);
  }
  return redis as Redis & SenderCommands;
}

/**
 * Key names. Per-account keys take the sharded prefix (the account's hash-tag shard, src/redis-keyspace.ts);
 * the rest are global and stay under the base prefix (the tenant's daily cap counts across its accounts).
 */
export const keys = {
  throttle: (p: ShardedPrefix, accountId: string) => redisKey(accountPrefix(p, accountId), 'send', 'tat', accountId),
  cap: (prefix: string, tenantId: string, day: string) => redisKey(prefix, 'send', 'cap', tenantId, day),
  accountLock: (p: ShardedPrefix, accountId: string) => redisKey(accountPrefix(p, accountId), 'send', 'lock', accountId),
  /** The account's sends in one tenant-local hour / day (its caps and warm-up ramp). */
  accountHour: (p: ShardedPrefix, accountId: string, hour: string) => redisKey(accountPrefix(p, accountId), 'send', 'hcap', accountId, hour),
  accountDay: (p: ShardedPrefix, accountId: string, day: string) => redisKey(accountPrefix(p, accountId), 'send', 'dcap', accountId, day),
  /** Present while the account's sending is paused for risk (PX = the cool-down). */
  riskPause: (p: ShardedPrefix, accountId: string) => redisKey(accountPrefix(p, accountId), 'send', 'risk', 'pause', accountId),
  /** Consecutive rate-limited or risk-coded answers of the account. */
  riskStreak: (p: ShardedPrefix, accountId: string) => redisKey(accountPrefix(p, accountId), 'send', 'risk', 'streak', accountId),
  /** A recipient's campaign messages in one period of the frequency cap (in the tenant's shard tag). */
  frequency: (p: ShardedPrefix, tenantId: string, conversationId: string, period: string) => redisKey(tenantPrefix(p, tenantId), 'fcap', tenantId, period, conversationId),
  expandLock: (prefix: string, taskId: string) => redisKey(prefix, 'expand', 'lock', taskId),
  sleep: (p: ShardedPrefix, accountId: string) => redisKey(accountPrefix(p, accountId), 'send', 'sleep', accountId),
  progressGate: (prefix: string, taskId: string) => redisKey(prefix, 'progress', 'gate', taskId),
  progressSample: (prefix: string, taskId: string) => redisKey(prefix, 'progress', 'sample', taskId),
  sweepLock: (prefix: string) => redisKey(prefix, 'send', 'sweep'),
  /** Present while a receipt of the tenant may wait in pending_receipts for its message's `sent` (src/sending/receipts.ts). */
  receiptsKept: (p: ShardedPrefix, tenantId: string) => redisKey(tenantPrefix(p, tenantId), 'receipts', 'kept', tenantId),
};

/**
 * A Redis lock held while work runs, renewed in the background (every third of its TTL). `lost` turns
 * true when a renewal finds the lock gone, or when no renewal succeeded for a whole TTL (Redis
 * unreachable): by then the key may have expired and another process may hold the account.
 */
export interface HeldLock {
  readonly lost: boolean;
  release(): Promise<void>;
}

export async function acquireLock(redis: Redis, key: string, ttlMs: number): Promise<HeldLock | null> {
  const r = senderRedis(redis);
  const token = randomBytes(12).toString('hex');
  const ok = await r.set(key, token, 'PX', ttlMs, 'NX');
  if (ok !== 'OK') return null;
  let lost = false;
  let confirmedAt = Date.now();
  const timer = setInterval(() => {
    const sentAt = Date.now();
    r.wwpLockRenew(key, token, ttlMs).then(
      (n) => {
        if (!n) lost = true;
        else confirmedAt = Math.max(confirmedAt, sentAt);
      },
      () => undefined, // unreachable: `lost` follows from confirmedAt ageing
    );
  }, Math.max(200, Math.floor(ttlMs / 3)));
  timer.unref();
  return {
    get lost() {
      return lost || Date.now() - confirmedAt >= ttlMs;
    },
    async release() {
      clearInterval(timer);
      await r.wwpLockRelease(key, token).catch(() => undefined);
    },
  };
}
