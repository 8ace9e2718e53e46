import { createHash } from 'node:crypto';
import type Redis from 'ioredis';
import type { LockoutPolicy } from '../domain/login-lockout';
import { redisKey } from '../redis';

/**
 * The guess budget of a login name, in Redis so every API copy shares it. A password check is reserved
 * atomically before the password is verified: once `maxFailures` checks of the window are reserved,
 * further attempts are refused unchecked until the lock window (starting at the last reserved check)
 * ends, however many arrive at once. A successful login clears the budget.
 *
 * KEYS[1] counter. ARGV[1] max checks, ARGV[2] window ms. Returns {allowed, attempt, remaining ms}.
 */
const RESERVE = `
local max = tonumber(ARGV[1])
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= max then
  return {0, n, redis.call('PTTL', KEYS[1])}
end
n = redis.call('INCR', KEYS[1])
if n >= max or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {1, n, redis.call('PTTL', KEYS[1])}`;

interface GuardCommands {
  wwpLoginReserve(key: string, max: number, windowMs: number): Promise<[number, number, number]>;
}

export type Reservation = { allowed: true; attempt: number } | { allowed: false; remainingMs: number };

/**
 * Who a login names, independent of whether it exists: the tenant's id when the code resolves, else
 * the code's collation key; and the username's collation key (src/db/users.ts loginNameKeys), so every
 * spelling the database treats as equal shares one budget, for real and unknown names alike.
 */
export interface LoginName {
  tenant: string;
  username: string;
}

const defined = new WeakSet<Redis>();

export class LoginGuard {
  private readonly redis: Redis & GuardCommands;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly policy: LockoutPolicy,
  ) {
    if (!defined.has(redis)) {
      redis.defineCommand('wwpLoginReserve', { numberOfKeys: 1, lua: RESERVE });
      defined.add(redis);
    }
    this.redis = redis as Redis & GuardCommands;
  }

  private key(name: LoginName): string {
    const digest = createHash('sha256').update(`${name.tenant}\n${name.username}`).digest('hex');
    return redisKey(this.prefix, 'login', 'guard', digest);
  }

  async reserve(name: LoginName): Promise<Reservation> {
    if (this.policy.maxFailures <= 0) return { allowed: true, attempt: 1 };
    const [allowed, attempt, remainingMs] = await this.redis.wwpLoginReserve(this.key(name), this.policy.maxFailures, this.policy.lockSeconds * 1000);
    return allowed === 1 ? { allowed: true, attempt } : { allowed: false, remainingMs: Math.max(remainingMs, 0) };
  }

  /** After a successful login, an unlock or a password reset: the full budget again. */
  async clear(name: LoginName): Promise<void> {
    await this.redis.del(this.key(name));
  }
}
