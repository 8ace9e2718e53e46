import type Redis from 'ioredis';
import type { Knex } from 'knex';
import type { Config } from '../../config';
import type { FileStorage } from '../../storage/types';
import { OfficialGatewayClient } from './client';

export { OfficialGatewayClient } from './client';

/** The `official` channel's client, from configuration (WECOM_API_BASE and the WECOM_* limits). */
export function officialClient(config: Config, db: Knex, redis: Redis, storage: FileStorage): OfficialGatewayClient {
  const o = config.official;
  return new OfficialGatewayClient({
    db,
    redis,
    prefix: config.redis.prefix,
    keyRing: config.channels.keyRing,
    storage,
    apiBase: o.apiBase,
    timeoutMs: o.timeoutMs,
    tokenRefreshMarginSeconds: o.tokenRefreshMarginSeconds,
    rateLimitBackoffMs: o.rateLimitBackoffMs,
    limits: {
      apiCallsPerMinute: o.apiCallsPerMinute,
      memberPerMinute: o.memberMessagesPerMinute,
      memberPerHour: o.memberMessagesPerHour,
      customerLimit: o.customerReceiveLimit,
      customerPeriodSeconds: o.customerReceivePeriodSeconds,
    },
  });
}
