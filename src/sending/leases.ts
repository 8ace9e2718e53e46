import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type Redis from 'ioredis';
import { groupByHashTag } from '../redis-keyspace';

/**
 * The account leases one worker process holds: "only this process sends for account X now". A lease
 * is a Redis key (SET NX PX) holding this process's token; every lease of the process is renewed by
 * one timer in one Lua call per 500 keys (not one timer and one round trip per account), so ten
 * thousand leased accounts cost a handful of Redis calls a second.
 *
 * A lease is lost when a renewal finds the key gone or owned by someone else, or when no renewal
 * succeeded for a whole TTL (Redis unreachable): by then the key may have expired and another process
 * may hold the account. The multi-key script only ever gets keys of one hash tag (leases are grouped
 * by their account's shard, src/redis-keyspace.ts), so it runs on Redis Cluster.
 */
const RENEW = `
local lost = {}
for i, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then redis.call('PEXPIRE', k, ARGV[2]) else lost[#lost + 1] = i end
end
return lost`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

type LeaseRedis = Redis & {
  wwpLeaseRenew(...args: Array<string | number>): Promise<number[]>;
  wwpLeaseRelease(key: string, token: string): Promise<number>;
};

const CHUNK = 500;

export class LeaseKeeper {
  /** Says who holds a lease (host/pid, for operators and tests), unique per keeper. */
  readonly token = `${hostname()}/${process.pid}/${randomBytes(8).toString('hex')}`;
  /** account id → its key and when it was taken, for every lease held. */
  private readonly held = new Map<string, { key: string; since: number }>();
  private readonly lostIds = new Set<string>();
  private confirmedAt = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private renewing: Promise<void> | null = null;
  private readonly r: LeaseRedis;

  constructor(
    redis: Redis,
    private readonly keyOf: (accountId: string) => string,
    private readonly ttlMs: number,
  ) {
    this.r = redis as LeaseRedis;
    if (!(this.r as { wwpLeaseRenew?: unknown }).wwpLeaseRenew) {
      redis.defineCommand('wwpLeaseRenew', { lua: RENEW });
      redis.defineCommand('wwpLeaseRelease', { numberOfKeys: 1, lua: RELEASE });
    }
  }

  get size(): number {
    return this.held.size;
  }

  async acquire(accountId: string): Promise<boolean> {
    if (this.held.has(accountId)) return false;
    const key = this.keyOf(accountId);
    const since = Date.now();
    const ok = await this.r.set(key, this.token, 'PX', this.ttlMs, 'NX');
    if (ok !== 'OK') return false;
    this.held.set(accountId, { key, since });
    this.lostIds.delete(accountId);
    this.timer ??= setInterval(() => this.renewAll(), Math.max(200, Math.floor(this.ttlMs / 3)));
    this.timer.unref();
    return true;
  }

  /** True once the lease may be held by someone else (see above). */
  lost(accountId: string): boolean {
    const lease = this.held.get(accountId);
    return !lease || this.lostIds.has(accountId) || Date.now() - Math.max(lease.since, this.confirmedAt) >= this.ttlMs;
  }

  async release(accountId: string): Promise<void> {
    const key = this.held.get(accountId)?.key;
    if (!key) return;
    this.held.delete(accountId);
    this.lostIds.delete(accountId);
    if (!this.held.size && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    await this.r.wwpLeaseRelease(key, this.token).catch(() => undefined);
  }

  private renewAll(): void {
    if (this.renewing || !this.held.size) return;
    const sentAt = Date.now();
    const groups = groupByHashTag(this.held, ([, l]) => l.key);
    this.renewing = (async () => {
      // Every chunk at once (one round trip in all, pipelined on the connection): one after the other, the
      // 20 chunks of 10,000 leases took over 2 s on a loaded machine, confirmedAt lagged the 3 s TTL and
      // every lease of the process counted as lost at once (runs stopped, restarted from scratch, again).
      const chunks: Array<Array<[string, { key: string }]>> = [];
      for (const entries of groups) for (let i = 0; i < entries.length; i += CHUNK) chunks.push(entries.slice(i, i + CHUNK));
      await Promise.all(
        chunks.map(async (chunk) => {
          const lost = await this.r.wwpLeaseRenew(chunk.length, ...chunk.map(([, l]) => l.key), this.token, this.ttlMs);
          for (const idx of lost) this.lostIds.add(chunk[idx - 1][0]);
        }),
      );
      this.confirmedAt = Math.max(this.confirmedAt, sentAt);
    })()
      // Unreachable Redis: leases age out through confirmedAt; the next tick tries again.
      .catch(() => undefined)
      .finally(() => {
        this.renewing = null;
      });
  }
}
