import { createHash, randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import { redisKey } from '../../redis';
import { GatewayError } from '../errors';

/**
 * Access tokens of the official API, cached in Redis and shared by every process. A token is fetched
 * by exactly one caller at a time across all processes (single flight): the fetcher holds a Redis lock
 * while the others wait for the new value; inside a process, concurrent callers share one promise too.
 * A token is kept `expires_in - margin` seconds, so it is refreshed before WeCom lets it expire; a call
 * answered 40014 / 42001 invalidates exactly the token it used (compare-and-delete), so many failing
 * calls at once still cause one refresh.
 */
export interface TokenOwner {
  corpId: string;
  secret: string;
}

export interface FetchedToken {
  accessToken: string;
  expiresInSeconds: number;
}

/** Deletes KEYS[1] only while it holds ARGV[1] (a lock we own, or the stale token we saw). */
const DELETE_IF = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

type TokenRedis = Redis & { wwpDeleteIf(key: string, value: string): Promise<number> };

export class AccessTokens {
  private readonly r: TokenRedis;
  private readonly inFlight = new Map<string, Promise<string>>();

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly fetchToken: (owner: TokenOwner) => Promise<FetchedToken>,
    private readonly opts: { refreshMarginSeconds: number; lockMs?: number; pollMs?: number },
  ) {
    this.r = redis as TokenRedis;
    if (!(this.r as { wwpDeleteIf?: unknown }).wwpDeleteIf) redis.defineCommand('wwpDeleteIf', { numberOfKeys: 1, lua: DELETE_IF });
  }

  /** One cache entry per corp and secret (an app's secret and the customer-contact secret get different tokens). */
  keyOf(owner: TokenOwner): string {
    const secretId = createHash('sha256').update(owner.secret).digest('hex').slice(0, 16);
    return redisKey(this.prefix, 'wecom', 'token', owner.corpId, secretId);
  }

  /** A valid token: the cached one, or a fresh one fetched by one caller for all. */
  async get(owner: TokenOwner): Promise<string> {
    const cached = await this.r.get(this.keyOf(owner));
    return cached ?? this.refresh(owner);
  }

  /**
   * A token other than `stale` (the one WeCom just refused). With `stale` unset: any cached token, or a
   * fresh one. Always fetches through the single flight.
   */
  async refresh(owner: TokenOwner, stale?: string): Promise<string> {
    const key = this.keyOf(owner);
    if (stale) await this.r.wwpDeleteIf(key, stale);
    const local = this.inFlight.get(key);
    if (local) return local;
    const p = this.singleFlight(owner, key, stale).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, p);
    return p;
  }

  /** Drops the cached token (credentials replaced). */
  async forget(owner: TokenOwner): Promise<void> {
    await this.r.del(this.keyOf(owner));
  }

  private async singleFlight(owner: TokenOwner, key: string, stale: string | undefined): Promise<string> {
    const lockKey = `${key}:lock`;
    const lockMs = this.opts.lockMs ?? 15_000;
    const pollMs = this.opts.pollMs ?? 50;
    const deadline = Date.now() + 2 * lockMs;
    while (Date.now() < deadline) {
      const current = await this.r.get(key);
      if (current && current !== stale) return current;
      const me = randomUUID();
      if ((await this.r.set(lockKey, me, 'PX', lockMs, 'NX')) === 'OK') {
        try {
          // Someone may have stored a fresh token between our read and our lock.
          const again = await this.r.get(key);
          if (again && again !== stale) return again;
          const t = await this.fetchToken(owner);
          const keepSeconds = Math.max(1, t.expiresInSeconds - this.opts.refreshMarginSeconds);
          await this.r.set(key, t.accessToken, 'EX', keepSeconds);
          return t.accessToken;
        } finally {
          await this.r.wwpDeleteIf(lockKey, me).catch(() => undefined);
        }
      }
      // Another process is fetching: wait for its token (or for its lock to lapse if it died).
      await new Promise((res) => setTimeout(res, pollMs));
    }
    throw new GatewayError('retryable', 'wecom_token_wait', 'timed out waiting for another process to fetch the WeCom access token');
  }
}
