import { HttpGatewayClient } from '../../src/gateway/http-client';
import { ChannelRouter } from '../../src/gateway/router';
import { startSimulator, type RunningSimulator } from '../../src/gateway/simulator';
import { newId } from '../../src/db/ids';
import { createTenant, createTestEnv, type TestEnv } from '../helpers/env';

/**
 * The router finds a guid's channel in wework_accounts once: many calls for an unknown guid at once (an
 * account's send lanes starting together) share one lookup instead of taking a pool connection each.
 */
let env: TestEnv;
let sim: RunningSimulator;
beforeAll(async () => {
  env = await createTestEnv('channel_router');
  sim = await startSimulator({ callbackSecret: 'router-test-secret', apiKey: 'router-test-key', autoLogin: false });
});
afterAll(async () => {
  await sim.close();
  await env.close();
});

test('concurrent calls for an unknown guid look its channel up once, then from memory', async () => {
  const { tenantId } = await createTenant(env);
  const { guid } = sim.control.createInstance('router');
  await env.ctx.db('wework_accounts').insert({ id: newId(), tenant_id: tenantId, account_name: `router-${guid.slice(0, 8)}`, guid, channel: 'simulator', status: 'offline' });
  // The default channel has no gateway here: a call routed without the lookup would throw.
  const router = new ChannelRouter(env.ctx.db, 'wechaty-absent', { simulator: new HttpGatewayClient({ url: sim.url, apiKey: 'router-test-key', timeoutMs: 10_000 }) });
  const lookups: string[] = [];
  const count = (q: { sql: string }) => {
    if (/from `wework_accounts`/.test(q.sql)) lookups.push(q.sql);
  };
  env.ctx.db.on('query', count);
  try {
    const statuses = await Promise.all(Array.from({ length: 16 }, () => router.getStatus(guid)));
    expect(statuses).toHaveLength(16);
    for (const s of statuses) expect(s).toEqual(statuses[0]);
    expect(lookups).toHaveLength(1);
    await router.getStatus(guid);
    expect(lookups).toHaveLength(1);
  } finally {
    env.ctx.db.off('query', count);
  }
});
