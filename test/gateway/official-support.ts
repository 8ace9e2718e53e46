import type { Config } from '../../src/config';
import type { AppContext } from '../../src/context';
import { officialClient, type OfficialGatewayClient } from '../../src/gateway/official';
import { createRedis } from '../../src/redis';
import { FakeWecom, type FakeCorp } from '../fixtures/wecom-official-fake';
import type { TestEnv, TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { waitFor } from '../helpers/wait';

/** A corp with three members, its app, and two customers of `alice`. */
export function fakeCorp(corpId = `ww${Math.random().toString(36).slice(2, 10)}`): FakeCorp {
  return { corpId, secret: `secret-${corpId}-0123456789`, agentId: 1000002, members: ['alice', 'bob', 'carol'] };
}

/**
 * An official-channel client of the context's database, Redis prefix and storage, pointed at the fake.
 * Each one has its own Redis connection, like a separate process; `register` serves the channel with it.
 */
export function officialClientFor(ctx: AppContext, fake: FakeWecom, official: Partial<Config['official']> = {}): OfficialGatewayClient {
  const redis = createRedis(ctx.config.redis);
  const client = officialClient({ ...ctx.config, official: { ...ctx.config.official, apiBase: fake.url, ...official } }, ctx.db, redis, ctx.storage);
  ctx.onClose(() => void redis.disconnect());
  return client;
}

export async function createOfficialAccount(env: TestEnv, tenant: TestTenant, corp: FakeCorp, extra: Record<string, unknown> = {}) {
  const res = await http('POST', `${env.url}/api/v1/accounts`, {
    token: tenant.adminToken,
    body: { account_name: `official-${Math.random().toString(36).slice(2, 8)}`, channel: 'official', credentials: { corp_id: corp.corpId, agent_id: corp.agentId, secret: corp.secret, ...extra } },
  });
  if (res.status !== 201) throw new Error(`create official account: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; guid: string; status: string; credentials: { hint: Record<string, unknown> } };
}

export async function loginAndWait(env: TestEnv, tenant: TestTenant, id: string, status: string) {
  const res = await http('POST', `${env.url}/api/v1/accounts/${id}/login`, { token: tenant.adminToken });
  if (res.status !== 202) throw new Error(`login: ${res.status} ${JSON.stringify(res.body)}`);
  return waitFor(async () => (await http('GET', `${env.url}/api/v1/accounts/${id}`, { token: tenant.adminToken })).body, `account ${id} → ${status}`, {
    until: (a) => a?.status === status,
  });
}
