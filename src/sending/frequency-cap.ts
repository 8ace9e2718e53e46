import type Redis from 'ioredis';
import { frequencyWindows, type FrequencyCap } from '../domain/campaign-controls';
import type { ShardedPrefix } from '../redis-keyspace';
import { keys } from './redis-scripts';

/**
 * The recipient frequency cap: a recipient (conversation) receives at most N campaign messages per
 * tenant-local day / week / month. Counters live in Redis, one per recipient and period, and a batch
 * of claimed messages takes its units in one Lua call: each message is checked against every period and
 * counted in all of them, or in none, atomically. Two tasks (two accounts, two worker processes)
 * sending to one recipient at once therefore cannot both take its last unit — MySQL could do the same
 * only with a locking read per recipient on the hot path, Redis does it in one round trip per batch.
 *
 * A unit is kept only by a send that went out (or may have: `unknown`); a message that fails, is
 * retried later, or goes back to pending gives its unit back, so a later attempt counts once.
 *
 * KEYS: W keys per message (its periods, in the order of ARGV). ARGV: W, then W limits, then W TTLs.
 * Returns one flag per message: 1 counted, 0 capped.
 */
const TAKE = `
local w = tonumber(ARGV[1])
local out = {}
for i = 0, #KEYS / w - 1 do
  local ok = 1
  for j = 1, w do
    if tonumber(redis.call('GET', KEYS[i * w + j]) or '0') >= tonumber(ARGV[1 + j]) then ok = 0 break end
  end
  if ok == 1 then
    for j = 1, w do
      redis.call('INCR', KEYS[i * w + j])
      redis.call('PEXPIRE', KEYS[i * w + j], ARGV[1 + w + j])
    end
  end
  out[i + 1] = ok
end
return out`;

/** Gives units back: KEYS every counter to lower by one (never below zero). */
const GIVE_BACK = `
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return #KEYS`;

type CapRedis = Redis & {
  wwpFreqTake(numKeys: number, ...args: Array<string | number>): Promise<number[]>;
  wwpFreqGiveBack(numKeys: number, ...keys: string[]): Promise<number>;
};

export interface TakenUnits {
  /** Per message, in order: its counter keys when counted, null when capped. */
  counted: Array<string[] | null>;
  /** The limits that applied, for the skipped messages' reason ("2 per day"). */
  rule: string;
}

export class FrequencyCapCounter {
  private readonly r: CapRedis;

  constructor(
    redis: Redis,
    private readonly keyspace: ShardedPrefix,
  ) {
    this.r = redis as CapRedis;
    if (!(this.r as { wwpFreqTake?: unknown }).wwpFreqTake) {
      redis.defineCommand('wwpFreqTake', { lua: TAKE });
      redis.defineCommand('wwpFreqGiveBack', { lua: GIVE_BACK });
    }
  }

  /** Takes a unit for each recipient (in order; a recipient may appear twice) in every period of the cap at `at`. */
  async take(tenantId: string, cap: FrequencyCap, timeZone: string, conversationIds: string[], at = new Date()): Promise<TakenUnits> {
    const windows = frequencyWindows(cap, at, timeZone);
    const rule = windows.map((w) => `${w.limit} per ${w.period[0] === 'd' ? 'day' : w.period[0] === 'w' ? 'week' : 'month'}`).join(', ');
    if (!windows.length || !conversationIds.length) return { counted: conversationIds.map(() => []), rule };
    const keyRows = conversationIds.map((c) => windows.map((w) => keys.frequency(this.keyspace, tenantId, c, w.period)));
    const flat = keyRows.flat();
    const flags = await this.r.wwpFreqTake(flat.length, ...flat, windows.length, ...windows.map((w) => w.limit), ...windows.map((w) => w.ttlMs));
    return { counted: keyRows.map((k, i) => (Number(flags[i]) === 1 ? k : null)), rule };
  }

  async giveBack(counterKeys: string[]): Promise<void> {
    if (counterKeys.length) await this.r.wwpFreqGiveBack(counterKeys.length, ...counterKeys);
  }
}
