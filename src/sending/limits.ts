import type Redis from 'ioredis';
import { hashTagOf } from '../redis-keyspace';

/**
 * Every limit a send must pass, taken in one atomic Redis call: the account's risk pause, the tenant's
 * daily cap, the account's hourly cap and its own daily cap (the configured one, lowered by the warm-up
 * ramp while the account warms), and the account's GCRA pace (slots `interval` apart, up to `horizon`
 * ahead). Granted = the smallest of them, so nothing is taken from one limit that another refused and
 * no give-back round trip is needed. One call covers every task an account sends for, in every process.
 * GCRA: the stored TAT is the earliest free slot; a TAT in the past restarts at now (an idle account
 * banks no slots). Times come from Redis (`TIME`) so every process shares one clock.
 *
 * KEYS: [1] the account's theoretical arrival time (ms), [2] the tenant-day counter, [3] the
 * account-hour counter, [4] the account-day counter, [5] the account's risk pause. A caller without
 * account counters (the official channel's own limits) passes KEYS[1] as [3], [4] and [5]; with the
 * tenant counter in another hash tag (sharded keys) ARGV[9] is 0 and KEYS[2] is not touched (the
 * caller took the tenant's units first, CAP_TAKE).
 * ARGV: interval ms (0 = unthrottled), wanted, horizon ms, tenant daily cap, its counter's TTL ms,
 * account hourly cap (0 = none), account daily cap (0 = none), ms until the next hour, tenant counter
 * here (1/0).
 * Returns {granted, firstOffsetMs, waitMs, nextTat, capped}; capped is 0, or which limit left nothing
 * (1 tenant day, 2 account hour, 3 account day, 4 risk pause; waitMs then says how long for 2 and 4).
 * The account counters always count (a cap switched on mid-day starts from what was sent).
 */
const RESERVE = `
local hasAccount = KEYS[3] ~= KEYS[1]
if KEYS[5] ~= KEYS[1] and redis.call('EXISTS', KEYS[5]) == 1 then return {0, 0, math.max(1, redis.call('PTTL', KEYS[5])), '', 4} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local horizon = tonumber(ARGV[3])
local tenantHere = ARGV[9] == '1'
if tenantHere then
  local tenantLeft = tonumber(ARGV[4]) - tonumber(redis.call('GET', KEYS[2]) or '0')
  if tenantLeft <= 0 then return {0, 0, 0, '', 1} end
  want = math.min(want, tenantLeft)
end
local hourCap = tonumber(ARGV[6])
if hasAccount and hourCap > 0 then
  local left = hourCap - tonumber(redis.call('GET', KEYS[3]) or '0')
  if left <= 0 then return {0, 0, tonumber(ARGV[8]), '', 2} end
  want = math.min(want, left)
end
local dayCap = tonumber(ARGV[7])
if hasAccount and dayCap > 0 then
  local left = dayCap - tonumber(redis.call('GET', KEYS[4]) or '0')
  if left <= 0 then return {0, 0, 0, '', 3} end
  want = math.min(want, left)
end
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
if tenantHere then
  redis.call('INCRBY', KEYS[2], want)
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
if hasAccount then
  redis.call('INCRBY', KEYS[3], want)
  redis.call('PEXPIRE', KEYS[3], 7200000)
  redis.call('INCRBY', KEYS[4], want)
  redis.call('PEXPIRE', KEYS[4], 172800000)
end
return {want, firstOffset, 0, nextTat, 0}`;

/**
 * Gives back `n` units taken and not used: every counter's units (KEYS[2..], never below zero); the
 * pace slots only when no one reserved after us (KEYS[1] still holds ARGV[2]), then the TAT moves back
 * by n intervals. ARGV: n, expected tat ('' = unthrottled), interval.
 */
const GIVE_BACK = `
local n = tonumber(ARGV[1])
if n <= 0 then return 0 end
for i = 2, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used > 0 then redis.call('DECRBY', KEYS[i], math.min(n, used)) end
end
if ARGV[2] ~= '' and redis.call('GET', KEYS[1]) == ARGV[2] then
  redis.call('SET', KEYS[1], tostring(tonumber(ARGV[2]) - n * tonumber(ARGV[3])), 'KEEPTTL')
  return 1
end
return 0`;

/**
 * The tenant's cap alone, for when the account's keys and the tenant's counter live in different hash
 * tags (REDIS_SHARDS > 1: the account's keys in its shard, the cap in the base tag), which no single
 * script may touch on Redis Cluster. The cap is taken first (CAP_TAKE), then the account's limits
 * (RESERVE without the tenant counter) for what the cap granted, and cap units the account refused go
 * back (CAP_RETURN): two round trips, three when the account is the tighter limit. Between the calls
 * another sender may see the cap a little lower than it ends up; never higher, so it is never exceeded.
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

/** Which limit left nothing. */
export type CapKind = 'tenant_daily' | 'account_hourly' | 'account_daily' | 'risk_paused';
const CAP_KINDS: Record<number, CapKind> = { 1: 'tenant_daily', 2: 'account_hourly', 3: 'account_daily', 4: 'risk_paused' };

export interface Reservation {
  granted: number;
  /** First slot, ms after the moment Redis answered (later ones every `interval`). */
  firstOffsetMs: number;
  /** Nothing granted by the pace: ms until a slot falls within the horizon; for an hourly cap or a risk pause, until it ends. */
  waitMs: number;
  /** The TAT this reservation left behind ('' when unthrottled), for giving back. */
  nextTat: string;
  /** A cap or a pause left nothing (null: granted, or only the pace says wait). */
  capped: CapKind | null;
}

/** The keys of one account's limits (src/sending/redis-scripts.ts `keys`). */
export interface LimitKeys {
  /** The account's pace (its hash-tag shard). */
  tat: string;
  /** The tenant-day counter (or any capped counter: the official channel's windows). */
  cap: string;
  /** The account's counters and risk pause, in the tat's shard; without them only `cap` and the pace apply. */
  accountHour?: string;
  accountDay?: string;
  riskPause?: string;
}

export interface ReserveParams {
  intervalMs: number;
  want: number;
  horizonMs: number;
  /** The tenant's daily cap. */
  dailyCap: number;
  /** Lifetime of the `cap` counter (a day and more for the daily cap; a window's length for windowed caps). */
  capTtlMs?: number;
  /** The account's caps (0 = none); the daily one already lowered by the warm-up ramp. */
  accountHourlyCap?: number;
  accountDailyCap?: number;
  /** Until the hour counter's hour ends (the wait an hourly cap answers). */
  msUntilNextHour?: number;
}

type LimitRedis = Redis & {
  wwpReserve(tat: string, cap: string, hour: string, day: string, pause: string, ...args: Array<number | string>): Promise<[number, number, number, string, number]>;
  wwpGiveBack(numKeys: number, ...args: Array<number | string>): Promise<number>;
  wwpCapTake(cap: string, want: number, dailyCap: number, capTtl: number): Promise<number>;
  wwpCapReturn(cap: string, n: number): Promise<number>;
};

/** The account's keys and the tenant's counter in one hash tag: one atomic script takes every limit. */
const oneSlot = (k: LimitKeys) => hashTagOf(k.tat) === hashTagOf(k.cap);

const CAP_TTL_MS = 48 * 3600_000;

export class SendLimits {
  private readonly r: LimitRedis;

  constructor(redis: Redis) {
    this.r = redis as LimitRedis;
    if (!(this.r as { wwpReserve?: unknown }).wwpReserve) {
      redis.defineCommand('wwpReserve', { numberOfKeys: 5, lua: RESERVE });
      redis.defineCommand('wwpGiveBack', { lua: GIVE_BACK });
      redis.defineCommand('wwpCapTake', { numberOfKeys: 1, lua: CAP_TAKE });
      redis.defineCommand('wwpCapReturn', { numberOfKeys: 1, lua: CAP_RETURN });
    }
  }

  async reserve(k: LimitKeys, p: ReserveParams): Promise<Reservation> {
    const capTtl = p.capTtlMs ?? CAP_TTL_MS;
    if (oneSlot(k)) return this.reserveAccount(k, p, true, p.want);
    const taken = Number(await this.r.wwpCapTake(k.cap, p.want, p.dailyCap, capTtl));
    if (taken <= 0) return { granted: 0, firstOffsetMs: 0, waitMs: 0, nextTat: '', capped: 'tenant_daily' };
    let res: Reservation;
    try {
      res = await this.reserveAccount(k, p, false, taken);
    } catch (err) {
      await this.r.wwpCapReturn(k.cap, taken).catch(() => undefined);
      throw err;
    }
    if (res.granted < taken) await this.r.wwpCapReturn(k.cap, taken - res.granted);
    return res;
  }

  private async reserveAccount(k: LimitKeys, p: ReserveParams, tenantHere: boolean, want: number): Promise<Reservation> {
    const [granted, firstOffset, waitMs, nextTat, capped] = await this.r.wwpReserve(
      k.tat,
      // Not read when the tenant's counter is elsewhere: any key of the account's slot stands in.
      tenantHere ? k.cap : k.tat,
      k.accountHour ?? k.tat,
      k.accountDay ?? k.tat,
      k.riskPause ?? k.tat,
      p.intervalMs,
      want,
      p.horizonMs,
      p.dailyCap,
      p.capTtlMs ?? CAP_TTL_MS,
      Math.max(0, p.accountHourlyCap ?? 0),
      Math.max(0, p.accountDailyCap ?? 0),
      Math.max(1, p.msUntilNextHour ?? 3600_000),
      tenantHere ? 1 : 0,
    );
    return { granted: Number(granted), firstOffsetMs: Number(firstOffset), waitMs: Number(waitMs), nextTat: String(nextTat), capped: CAP_KINDS[Number(capped)] ?? null };
  }

  async giveBack(k: LimitKeys, n: number, r: Pick<Reservation, 'nextTat'>, intervalMs: number): Promise<void> {
    if (n <= 0) return;
    const accountCounters = [k.accountHour, k.accountDay].filter((x): x is string => Boolean(x));
    if (oneSlot(k)) {
      const ks = [k.tat, k.cap, ...accountCounters];
      await this.r.wwpGiveBack(ks.length, ...ks, n, r.nextTat, intervalMs);
      return;
    }
    await this.r.wwpCapReturn(k.cap, n);
    const ks = [k.tat, ...accountCounters];
    await this.r.wwpGiveBack(ks.length, ...ks, n, r.nextTat, intervalMs);
  }
}
