import { parseJson } from '../../src/db/json';
import { developmentKeyRing } from '../../src/secrets/key-ring';
import { endpointForDelivery } from '../../src/db/webhook-endpoints';
import { createTenant, createTestEnv, type TestEnv } from '../helpers/env';
import * as migration from '../../migrations/20261201_0100_webhooks';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('webhookmigration');
});
afterAll(() => env.close());

test("a tenant's webhook_url becomes an endpoint subscribed to every event, with a sealed secret", async () => {
  const withUrl = await createTenant(env);
  const without = await createTenant(env);
  await env.ctx.db('tenants').where({ id: withUrl.tenantId }).update({ webhook_url: 'https://crm.example.com/hook' });
  // Run this migration again over the tenants as they are now (down, then up).
  await migration.down(env.ctx.db);
  await migration.up(env.ctx.db);
  const rows = await env.ctx.db('webhook_endpoints').select('id', 'tenant_id', 'url', 'event_types', 'active', 'secret_sealed');
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ tenant_id: withUrl.tenantId, url: 'https://crm.example.com/hook', active: 1 });
  expect(parseJson(rows[0].event_types, [])).toEqual(['*']);
  expect(rows[0].secret_sealed).not.toContain('whsec_');
  const opened = await endpointForDelivery(env.ctx.db, developmentKeyRing(), rows[0].id);
  expect(opened?.secrets[0]).toMatch(/^whsec_/);
  expect(rows.some((r) => r.tenant_id === without.tenantId)).toBe(false);
});
