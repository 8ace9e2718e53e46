import type Redis from 'ioredis';
import { hashTagOf } from '../redis-keyspace';

/**
 * Every limit a send must pass, taken in one atomic Redis call: the tenant's daily cap (units) and the
 * account's GCRA pace (slots `interval` apart, up to `horizon` ahead). Granted = the smaller of the two,
 * so nothing is taken from one limit that the other refused and no give-back round trip is needed.
 * GCRA: the stored TAT is the earliest free slot; a TAT in the past restarts at now (an idle account
 * banks no slots). Times come from Redis (`TIME`) so every process shares one clock.
 *
 * KEYS[1] the account's theoretical arrival time (ms), KEYS[2] the tenant-day cap counter.
 * ARGV: interval ms (0 = unthrottled), wanted, horizon ms, daily cap, cap counter TTL ms.
 * Returns {granted, firstOffsetMs, waitMs, nextTat, capped (1 when the cap left nothing)}.
 */
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local horizon = tonumber(ARGV[3])
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
local capLeft = math.max(0, tonumber(ARGV[4]) - used)
if capLeft <= 0 then return {0, 0, 0, '', 1} end
want = math.min(want, capLeft)
local firstOffset = 0
local nextTat = ''
if interval > 0 then
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  local start = math.max(tat, now)
  local limit = now + horizon
  if start > limit then return {0, start - now, start - limit, tostring(start), 0} end
  want = math.min(want, math.floor((limit - start) / interval) + 1)
  local tatAfter = start + want * interval
  redis.call('SET', KEYS[1], tostring(tatAfter), 'PX', math.floor(tatAfter - now + 60000))
  firstOffset = start - now
  nextTat = tostring(tatAfter)
end
redis.call('INCRBY', KEYS[2], want)
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return {want, firstOffset, 0, nextTat, 0}`;

/**
 * Gives back `n` units taken and not used: the cap units always; the pace slots only when no one
 * reserved after us (KEYS[1] still holds ARGV[2]), then the TAT moves back by n intervals.
 * KEYS[1] tat, KEYS[2] cap. ARGV: n, expected tat ('' = unthrottled), interval.
 */
const GIVE_BACK = `
local n = tonumber(ARGV[1])
if n <= 0 then return 0 end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if used > 0 then redis.call('DECRBY', KEYS[2], math.min(n, used)) end
if ARGV[2] ~= '' and redis.call('GET', KEYS[1]) == ARGV[2] then
  redis.call('SET', KEYS[1], tostring(tonumber(ARGV[2]) - n * tonumber(ARGV[3])), 'KEEPTTL')
  return 1
end
return 0`;

/**
 * The same limits when the account's pace and the tenant's cap live in different hash tags (REDIS_SHARDS
 * > 1: the pace in the account's shard, the cap in the base tag), which no single script may touch on
 * Redis Cluster. The cap is taken first (CAP_TAKE), then the pace (PACE_RESERVE) for what the cap
 * granted, and cap units the pace refused go back (CAP_RETURN): two round trips, three when the pace is
 * the tighter limit. Between the calls another sender may see the cap a little lower than it ends up;
 * it never sees it higher, so the cap is never exceeded.
 */
const CAP_TAKE = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local take = math.min(tonumber(ARGV[1]), math.max(0, tonumber(ARGV[2]) - used))
if take <= 0 then return 0 end
redis.call('INCRBY', KEYS[1], take)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return take`;

const CAP_RETURN = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = math.min(tonumber(ARGV[1]), used)
if n > 0 then redis.call('DECRBY', KEYS[1], n) end
return n`;

const PACE_RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local horizon = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(tat, now)
local limit = now + horizon
if start > limit then return {0, start - now, start - limit, tostring(start)} end
want = math.min(want, math.floor((limit - start) / interval) + 1)
local tatAfter = start + want * interval
redis.call('SET', KEYS[1], tostring(tatAfter), 'PX', math.floor(tatAfter - now + 60000))
return {want, start - now, 0, tostring(tatAfter)}`;

const PACE_GIVE_BACK = `
if redis.call('GET', KEYS[1]) == ARGV[2] then
  redis.call('SET', KEYS[1], tostring(tonumber(ARGV[2]) - tonumber(ARGV[1]) * tonumber(ARGV[3])), 'KEEPTTL')
  return 1
end
return 0`;

export interface Reservation {
  granted: number;
  /** First slot, ms after the moment Redis answered (later ones every `interval`). */
  firstOffsetMs: number;
  /** Nothing granted by the pace: ms until a slot falls within the horizon. */
  waitMs: number;
  /** The TAT this reservation left behind ('' when unthrottled), for giving back. */
  nextTat: string;
  /** The daily cap left nothing. */
  capped: boolean;
}

type LimitRedis = Redis & {
  wwpReserve(tat: string, cap: string, interval: number, want: number, horizon: number, dailyCap: number, capTtl: number): Promise<[number, number, number, string, number]>;
  wwpGiveBack(tat: string, cap: string, n: number, expectedTat: string, interval: number): Promise<number>;
  wwpCapTake(cap: string, want: number, dailyCap: number, capTtl: number): Promise<number>;
  wwpCapReturn(cap: string, n: number): Promise<number>;
  wwpPaceReserve(tat: string, interval: number, want: number, horizon: number): Promise<[number, number, number, string]>;
  wwpPaceGiveBack(tat: string, n: number, expectedTat: string, interval: number): Promise<number>;
};

/** Both keys in one hash tag: one atomic script can take both limits. */
const oneSlot = (k: { tat: string; cap: string }) => hashTagOf(k.tat) === hashTagOf(k.cap);

const CAP_TTL_MS = 48 * 3600_000;

export class SendLimits {
  private readonly r: LimitRedis;

  constructor(redis: Redis) {
    this.r = redis as LimitRedis;
    if (!(this.r as { wwpReserve?: unknown }).wwpReserve) {
      redis.defineCommand('wwpReserve', { numberOfKeys: 2, lua: RESERVE });
      redis.defineCommand('wwpGiveBack', { numberOfKeys: 2, lua: GIVE_BACK });
      redis.defineCommand('wwpCapTake', { numberOfKeys: 1, lua: CAP_TAKE });
      redis.defineCommand('wwpCapReturn', { numberOfKeys: 1, lua: CAP_RETURN });
      redis.defineCommand('wwpPaceReserve', { numberOfKeys: 1, lua: PACE_RESERVE });
      redis.defineCommand('wwpPaceGiveBack', { numberOfKeys: 1, lua: PACE_GIVE_BACK });
    }
  }

  /** `capTtlMs`: lifetime of the cap counter (a day and more for the daily cap; a window's length for windowed caps). */
  async reserve(k: { tat: string; cap: string }, p: { intervalMs: number; want: number; horizonMs: number; dailyCap: number; capTtlMs?: number }): Promise<Reservation> {
    if (!oneSlot(k)) return this.reserveInSteps(k, p);
    const [granted, firstOffset, waitMs, nextTat, capped] = await this.r.wwpReserve(k.tat, k.cap, p.intervalMs, p.want, p.horizonMs, p.dailyCap, p.capTtlMs ?? CAP_TTL_MS);
    return { granted: Number(granted), firstOffsetMs: Number(firstOffset), waitMs: Number(waitMs), nextTat: String(nextTat), capped: Number(capped) === 1 };
  }

  async giveBack(k: { tat: string; cap: string }, n: number, r: Pick<Reservation, 'nextTat'>, intervalMs: number): Promise<void> {
    if (n <= 0) return;
    if (oneSlot(k)) {
      await this.r.wwpGiveBack(k.tat, k.cap, n, r.nextTat, intervalMs);
      return;
    }
    await this.r.wwpCapReturn(k.cap, n);
    if (r.nextTat !== '') await this.r.wwpPaceGiveBack(k.tat, n, r.nextTat, intervalMs);
  }

  private async reserveInSteps(k: { tat: string; cap: string }, p: { intervalMs: number; want: number; horizonMs: number; dailyCap: number; capTtlMs?: number }): Promise<Reservation> {
    const taken = Number(await this.r.wwpCapTake(k.cap, p.want, p.dailyCap, p.capTtlMs ?? CAP_TTL_MS));
    if (taken <= 0) return { granted: 0, firstOffsetMs: 0, waitMs: 0, nextTat: '', capped: true };
    if (p.intervalMs <= 0) return { granted: taken, firstOffsetMs: 0, waitMs: 0, nextTat: '', capped: false };
    const [granted, firstOffset, waitMs, nextTat] = (await this.r.wwpPaceReserve(k.tat, p.intervalMs, taken, p.horizonMs).catch(async (err: unknown) => {
      await this.r.wwpCapReturn(k.cap, taken).catch(() => undefined);
      throw err;
    })) as [number, number, number, string];
    const paced = Number(granted);
    if (paced < taken) await this.r.wwpCapReturn(k.cap, taken - paced);
    return { granted: paced, firstOffsetMs: Number(firstOffset), waitMs: Number(waitMs), nextTat: String(nextTat), capped: false };
  }
}
