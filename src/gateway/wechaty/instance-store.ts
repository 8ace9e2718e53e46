import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import { redisKey } from '../../redis';
import type { KeyRing } from '../../secrets/key-ring';
import type { WechatyCredentials } from '../../channels/channels';

/**
 * The gateway's instances in Redis, so the role can run as several copies and a restarted copy finds
 * its accounts again. An instance holds the account's provider credentials (sealed with the channel key
 * ring, bound to the guid) and whether its session should run (`wanted`: a login was started and not
 * ended by logout or cancel).
 *
 * Each session runs in exactly one process: the owner holds a lease (`owner:<guid>`, renewed while it
 * lives; a killed owner's lease lapses after `leaseMs` and another copy takes the session over). The
 * lease value names the owner and the URL other copies forward that instance's requests to.
 */
export interface InstanceRecord {
  guid: string;
  label: string;
  credentials: WechatyCredentials;
  wanted: boolean;
  createdAt: number;
}

export interface Owner {
  id: string;
  url: string;
}

// A lease that lapsed without anyone taking it (the owner's event loop stalled) is simply taken back.
const RENEW = `local v = redis.call('get', KEYS[1])
if v == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
if not v then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export class InstanceStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly keyRing: KeyRing,
  ) {}

  private instKey(guid: string): string {
    return redisKey(this.prefix, 'wx', 'inst', guid);
  }

  private ownerKey(guid: string): string {
    return redisKey(this.prefix, 'wx', 'owner', guid);
  }

  private get wantedKey(): string {
    return redisKey(this.prefix, 'wx', 'wanted');
  }

  private aad(guid: string): string {
    return `wechaty_instance:${guid}`;
  }

  async create(label: string, credentials: WechatyCredentials): Promise<string> {
    const guid = `wx-${randomUUID()}`;
    await this.redis.hset(this.instKey(guid), {
      label,
      credentials: this.keyRing.seal(JSON.stringify(credentials), this.aad(guid)),
      wanted: '0',
      created_at: String(Date.now()),
    });
    return guid;
  }

  async get(guid: string): Promise<InstanceRecord | undefined> {
    const h = await this.redis.hgetall(this.instKey(guid));
    if (!h.credentials) return undefined;
    // Rotation: a record sealed under an older key is re-sealed on read.
    if (this.keyRing.isStale(h.credentials)) {
      await this.redis.hset(this.instKey(guid), 'credentials', this.keyRing.reseal(h.credentials, this.aad(guid)));
    }
    return {
      guid,
      label: h.label ?? '',
      credentials: JSON.parse(this.keyRing.open(h.credentials, this.aad(guid))) as WechatyCredentials,
      wanted: h.wanted === '1',
      createdAt: Number(h.created_at ?? 0),
    };
  }

  async updateCredentials(guid: string, credentials: WechatyCredentials): Promise<boolean> {
    const n = await this.redis.exists(this.instKey(guid));
    if (!n) return false;
    await this.redis.hset(this.instKey(guid), 'credentials', this.keyRing.seal(JSON.stringify(credentials), this.aad(guid)));
    return true;
  }

  async setWanted(guid: string, wanted: boolean): Promise<void> {
    await this.redis
      .multi()
      .hset(this.instKey(guid), 'wanted', wanted ? '1' : '0')
      [wanted ? 'sadd' : 'srem'](this.wantedKey, guid)
      .exec();
  }

  /** Guids whose sessions should run (a copy with spare room takes over those nobody owns). */
  async wanted(): Promise<string[]> {
    return this.redis.smembers(this.wantedKey);
  }

  async delete(guid: string): Promise<void> {
    await this.redis.multi().del(this.instKey(guid)).srem(this.wantedKey, guid).del(this.ownerKey(guid)).exec();
  }

  // ---- ownership -------------------------------------------------------------------------------

  /** Takes the lease if nobody holds it; true when `owner` holds it now. */
  async claim(guid: string, owner: Owner, leaseMs: number): Promise<boolean> {
    const value = JSON.stringify(owner);
    const ok = await this.redis.set(this.ownerKey(guid), value, 'PX', leaseMs, 'NX');
    if (ok === 'OK') return true;
    return (await this.redis.get(this.ownerKey(guid))) === value;
  }

  /** Extends the leases `owner` holds; answers the guids it no longer holds (lost to a lapse). */
  async renew(guids: string[], owner: Owner, leaseMs: number): Promise<string[]> {
    if (guids.length === 0) return [];
    const value = JSON.stringify(owner);
    const pipe = this.redis.pipeline();
    for (const g of guids) pipe.eval(RENEW, 1, this.ownerKey(g), value, leaseMs);
    const res = (await pipe.exec()) ?? [];
    return guids.filter((_, i) => res[i]?.[1] !== 1);
  }

  async release(guid: string, owner: Owner): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.ownerKey(guid), JSON.stringify(owner));
  }

  async ownerOf(guid: string): Promise<Owner | undefined> {
    const v = await this.redis.get(this.ownerKey(guid));
    return v ? (JSON.parse(v) as Owner) : undefined;
  }
}
