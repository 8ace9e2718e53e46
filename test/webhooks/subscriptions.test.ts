import { newId } from '../../src/db/ids';
import { StatusWriter } from '../../src/sending/status-writer';
import { EndpointSubscriptions, announceEndpointsChanged } from '../../src/webhooks/subscriptions';
import { createTenant, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { freePort } from '../helpers/ports';
import { unreachableRedis } from '../helpers/unreachable-redis';

/**
 * The status writer's kept answer to "which event types do the tenant's endpoints want": no
 * webhook_endpoints query per flush, and every change made through the API reaches the very next flush
 * after the API's answer (the API moves the tenant's endpoints version in Redis before it answers).
 */
let env: TestEnv;
let tenant: TestTenant;
let subs: EndpointSubscriptions;

beforeAll(async () => {
  env = await createTestEnv('whsubs', { api: true, env: { WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32' } });
  tenant = await createTenant(env);
  subs = new EndpointSubscriptions(env.ctx.redis, env.ctx.config.redis.prefix);
});
afterAll(async () => {
  await env?.close();
});

const api = (method: string, path: string, body?: unknown) => http(method, `${env.url}/api/v1${path}`, { token: tenant.adminToken, body });

/** An active endpoint written straight to MySQL: no version moved, as if another tool changed the table. */
async function insertEndpointBehindTheApi(tenantId: string, name: string, eventTypes: string[]): Promise<void> {
  await env.ctx.db('webhook_endpoints').insert({
    id: newId(),
    tenant_id: tenantId,
    name,
    url: `http://127.0.0.1:9/${name}`,
    event_types: JSON.stringify(eventTypes),
    active: 1,
    secret_sealed: 'x',
    key_id: 'k',
  });
}

async function sendingMessage(): Promise<{ id: string; createdAt: Date }> {
  const id = newId();
  await env.ctx.db('messages').insert({ id, tenant_id: tenant.tenantId, account_id: newId(), conversation_id: 'c1', message_type: 'text', content: JSON.stringify({ text: 'hi' }), status: 'sending' });
  const row = await env.ctx.db('messages').where({ id }).first();
  return { id, createdAt: row.created_at };
}

/** Flushes one `sent` result with a writer using `subs`; returns the statements against webhook_endpoints and the outbox rows it wrote. */
async function flushOne(): Promise<{ lookups: number; published: number }> {
  const m = await sendingMessage();
  const statements: string[] = [];
  const onQuery = (q: { sql: string }) => statements.push(q.sql);
  env.ctx.db.on('query', onQuery);
  try {
    const writer = new StatusWriter(env.ctx.db, env.ctx.logger, async () => undefined, { maxBatch: 10, maxDelayMs: 1, subscriptions: subs });
    await writer.record({ id: m.id, createdAt: m.createdAt, taskId: null, tenantId: tenant.tenantId, outcome: { kind: 'sent', gatewayMessageId: `gw-${m.id}` } });
    await writer.close();
  } finally {
    env.ctx.db.off('query', onQuery);
  }
  const published = await env.ctx.db('webhook_outbox').where({ tenant_id: tenant.tenantId }).andWhereRaw('payload LIKE ?', [`%${m.id}%`]).count({ n: '*' }).first();
  return { lookups: statements.filter((s) => s.includes('webhook_endpoints')).length, published: Number(published!.n) };
}

test('flushes share one read of the endpoints; creating, narrowing and deleting an endpoint reach the next flush', async () => {
  // No endpoint: the first flush reads, the next ones do not, and nothing is published.
  expect(await flushOne()).toEqual({ lookups: 1, published: 0 });
  expect(await flushOne()).toEqual({ lookups: 0, published: 0 });

  // Each change reaches the first flush after the API's answer (one read), and the next one keeps it.
  const created = await api('POST', '/webhooks', { name: 'crm', url: 'http://127.0.0.1:9/hook', event_types: ['message.sent'] });
  expect(created.status).toBe(201);
  expect(await flushOne()).toEqual({ lookups: 1, published: 1 });
  expect(await flushOne()).toEqual({ lookups: 0, published: 1 });

  const narrowed = await api('PATCH', `/webhooks/${created.body.id}`, { event_types: ['message.failed'] });
  expect(narrowed.status).toBe(200);
  expect(await flushOne()).toEqual({ lookups: 1, published: 0 });

  const widened = await api('PATCH', `/webhooks/${created.body.id}`, { event_types: ['*'] });
  expect(widened.status).toBe(200);
  expect(await flushOne()).toEqual({ lookups: 1, published: 1 });

  expect((await api('DELETE', `/webhooks/${created.body.id}`)).status).toBe(204);
  expect(await flushOne()).toEqual({ lookups: 1, published: 0 });
  expect(await flushOne()).toEqual({ lookups: 0, published: 0 });
});

test('a change made behind the API (no announcement) is not seen while the answer is kept: the cache is real', async () => {
  const other = await createTenant(env);
  expect(await subs.typesOf(env.ctx.db, other.tenantId)).toEqual([]);
  await insertEndpointBehindTheApi(other.tenantId, 'direct', ['*']);
  expect(await subs.typesOf(env.ctx.db, other.tenantId)).toEqual([]);
  // Another process (a fresh cache) reads it.
  const fresh = new EndpointSubscriptions(env.ctx.redis, env.ctx.config.redis.prefix);
  expect(await fresh.typesOf(env.ctx.db, other.tenantId)).toEqual([['*']]);
});

test('the first answer after an announced change is the new one, with nothing in between to wait for', async () => {
  const other = await createTenant(env);
  expect(await subs.typesOf(env.ctx.db, other.tenantId)).toEqual([]);
  await insertEndpointBehindTheApi(other.tenantId, 'announced', ['message.sent']);
  await announceEndpointsChanged(env.ctx.redis, env.ctx.config.redis.prefix, other.tenantId);
  expect(await subs.typesOf(env.ctx.db, other.tenantId)).toEqual([['message.sent']]);
});

test('with Redis away a flush does not wait on the version: the endpoints are read from MySQL', async () => {
  const other = await createTenant(env);
  await insertEndpointBehindTheApi(other.tenantId, 'no-redis', ['*']);
  // A client of a port nothing listens on, retrying without end: its commands wait for a connection that
  // never comes (without the version's time limit this test would hang to its timeout).
  const away = unreachableRedis({ ...env.ctx.config.redis, url: `redis://127.0.0.1:${await freePort()}`, clusterNodes: [] }, 'command', { maxRetriesPerRequest: null });
  try {
    const cut = new EndpointSubscriptions(away, env.ctx.config.redis.prefix);
    expect(await cut.typesOf(env.ctx.db, other.tenantId)).toEqual([['*']]);
    expect(await cut.typesOf(env.ctx.db, other.tenantId)).toEqual([['*']]);
  } finally {
    away.disconnect();
  }
}, 15_000);
