import type Redis from 'ioredis';
import { redisKey } from '../../redis';
import { SendLimits } from '../../sending/limits';
import { GatewayError } from '../errors';

/**
 * WeCom's limits on the official API, taken from the sending pacer's limiter (src/sending/limits.ts,
 * one Lua call each) before a call is made, so a fleet of workers stays under them together:
 *  - per corp and API: `apiCallsPerMinute` (GCRA, a minute's worth may burst);
 *  - app messages per member: `memberPerMinute` (GCRA) and `memberPerHour` (a counter per clock hour);
 *  - customer group-sends per customer: `customerLimit` per `customerPeriodSeconds`.
 * A refused pace is `rate_limited` with the wait; a customer over the receive limit is permanent for
 * this message (WeCom would refuse it the same way: "receive limit reached").
 */
export interface OfficialLimits {
  apiCallsPerMinute: number;
  memberPerMinute: number;
  memberPerHour: number;
  customerLimit: number;
  customerPeriodSeconds: number;
}

const MINUTE = 60_000;
const UNCAPPED = Number.MAX_SAFE_INTEGER;

export class OfficialPacer {
  private readonly limits: SendLimits;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly cfg: OfficialLimits,
  ) {
    this.limits = new SendLimits(redis);
  }

  private key(...parts: (string | number)[]): string {
    return redisKey(this.prefix, 'wecom', 'pace', ...parts);
  }

  /** One call of `api` for the corp, or rate_limited with how long to wait. */
  async takeApiCall(corpId: string, api: string): Promise<void> {
    if (this.cfg.apiCallsPerMinute <= 0) return;
    const interval = MINUTE / this.cfg.apiCallsPerMinute;
    const r = await this.limits.reserve(
      { tat: this.key('api', corpId, api), cap: this.key('api-n', corpId, api) },
      { intervalMs: interval, want: 1, horizonMs: MINUTE - interval, dailyCap: UNCAPPED, capTtlMs: MINUTE },
    );
    if (r.granted < 1) throw new GatewayError('rate_limited', 'wecom_api_pace', `${api}: ${this.cfg.apiCallsPerMinute} calls per minute for this corp reached`, Math.max(1, r.waitMs));
  }

  /** One app message to a member (per minute by GCRA, per clock hour by a counter). */
  async takeMemberMessage(corpId: string, agentId: number, userId: string, now = Date.now()): Promise<void> {
    const perMinute = this.cfg.memberPerMinute;
    const hour = Math.floor(now / 3_600_000);
    const interval = perMinute > 0 ? MINUTE / perMinute : 0;
    const r = await this.limits.reserve(
      { tat: this.key('member', corpId, agentId, userId), cap: this.key('member-h', corpId, agentId, userId, hour) },
      { intervalMs: interval, want: 1, horizonMs: Math.max(0, MINUTE - interval), dailyCap: this.cfg.memberPerHour > 0 ? this.cfg.memberPerHour : UNCAPPED, capTtlMs: 3_600_000 },
    );
    if (r.capped) {
      throw new GatewayError('rate_limited', 'wecom_member_hour_limit', `${this.cfg.memberPerHour} app messages per hour to ${userId} reached`, (hour + 1) * 3_600_000 - now);
    }
    if (r.granted < 1) throw new GatewayError('rate_limited', 'wecom_member_minute_limit', `${perMinute} app messages per minute to ${userId} reached`, Math.max(1, r.waitMs));
  }

  /**
   * One group-send to a customer (or customer group) within its receive limit. Answers the give-back for
   * a send that did not reach WeCom (its unit returns to the customer's budget).
   */
  async takeCustomerReceive(corpId: string, customerId: string, now = Date.now()): Promise<() => Promise<void>> {
    if (this.cfg.customerLimit <= 0) return async () => undefined;
    const periodMs = this.cfg.customerPeriodSeconds * 1000;
    const period = Math.floor(now / periodMs);
    const keys = { tat: this.key('customer-t', corpId, customerId), cap: this.key('customer', corpId, customerId, period) };
    const r = await this.limits.reserve(
      keys,
      { intervalMs: 0, want: 1, horizonMs: 0, dailyCap: this.cfg.customerLimit, capTtlMs: periodMs },
    );
    if (r.capped || r.granted < 1) {
      throw new GatewayError('permanent', 'customer_receive_limit', `receive limit reached: the customer already received ${this.cfg.customerLimit} group-send(s) in this period of ${this.cfg.customerPeriodSeconds} s`);
    }
    return () => this.limits.giveBack(keys, 1, r, 0);
  }
}
