import { insertEndpoint } from '../../src/db/webhook-endpoints';
import { publishWebhookEvents } from '../../src/webhooks/publish';
import { generateWebhookSecret } from '../../src/webhooks/signing';
import { createTenant, createTestEnv, type TestEnv } from '../helpers/env';
import { PROCESS_TEST_TIMEOUT_MS, spawnRole, type SpawnedRole } from '../helpers/processes';
import { waitFor } from '../helpers/wait';
import { startReceiver, type Receiver } from './receiver';

/**
 * The outbox and delivery path survives a SIGKILL: a child process running the webhook roles is killed
 * while events are being published and delivered, with requests on the wire that it will never record.
 * The receiver (in this process, its own ledger) must end up with every published event, each under one
 * webhook-id only (re-sent with the same id after the dead worker's lease ran out, never as a second
 * delivery), and the delivery log with every delivery succeeded.
 */
jest.setTimeout(PROCESS_TEST_TIMEOUT_MS);

const EVENTS = 400;
const LEASE_MS = 4000;

let env: TestEnv;
let receiver: Receiver;
beforeAll(async () => {
  env = await createTestEnv('webhooks-kill');
  // Slow answers keep requests in flight, so the kill lands between a request and its record.
  receiver = await startReceiver({ answerAfterMs: 150 });
});
afterAll(async () => {
  await receiver?.close();
  await env?.close();
});

async function spawnWebhookRoles(): Promise<SpawnedRole> {
  const child = spawnRole({
    script: 'test/webhooks/kill-child.ts',
    config: env.config,
    env: { WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32', WEBHOOK_TIMEOUT_MS: '2000', WEBHOOK_RETRY_BASE_MS: '200', WEBHOOK_TEST_LEASE_MS: String(LEASE_MS) },
  });
  await child.waitForOutput(/ready/, 'the webhook roles to start');
  return child;
}

/** The receiver's ledger: webhook-ids per event, and events per webhook-id. */
function ledger() {
  const idsOf = new Map<string, Set<string>>();
  const eventsOf = new Map<string, Set<string>>();
  for (const r of receiver.received) {
    const id = r.headers['webhook-id'] as string;
    const event = (JSON.parse(r.body) as { data: { message_id: string } }).data.message_id;
    idsOf.set(event, (idsOf.get(event) ?? new Set()).add(id));
    eventsOf.set(id, (eventsOf.get(id) ?? new Set()).add(event));
  }
  return { idsOf, eventsOf };
}

test('webhook roles killed with SIGKILL mid-stream: every event delivered, each under one webhook-id', async () => {
  const t = await createTenant(env);
  await insertEndpoint(env.ctx.db, env.config.channels.keyRing, {
    tenantId: t.tenantId,
    name: 'crm',
    url: `${receiver.url}/crm`,
    eventTypes: ['message.sent'],
    active: true,
    batchMax: 1,
    secret: generateWebhookSecret(),
    createdBy: null,
  });
  let published = 0;
  const publish = async (n: number) => {
    for (let i = 0; i < n; i += 20) {
      const events = Array.from({ length: 20 }, () => ({ type: 'message.sent' as const, data: { message_id: `m${++published}` } }));
      await env.ctx.db.transaction((trx) => publishWebhookEvents(trx, t.tenantId, events));
    }
  };

  let roles = await spawnWebhookRoles();
  const publishing = publish(EVENTS / 2);
  // Kill while requests are on the wire (received, not yet answered, so not yet recorded).
  const onTheWire = await waitFor(() => (ledger().idsOf.size >= 50 ? receiver.unanswered().map((r) => r.headers['webhook-id'] as string) : []), 'deliveries under way with requests unanswered', {
    timeoutMs: 60_000,
    until: (ids) => ids.length > 0,
  });
  await roles.kill();
  await publishing;
  const atKill = ledger().idsOf.size;
  expect(atKill).toBeLessThan(EVENTS / 2); // killed mid-stream
  // Events keep being published while no webhook process runs: they wait in the outbox.
  await publish(EVENTS / 2);
  roles = await spawnWebhookRoles();

  await waitFor(() => ledger().idsOf.size, 'every published event at the receiver', { timeoutMs: 120_000, until: (n) => n === EVENTS });
  const { idsOf, eventsOf } = ledger();
  expect([...idsOf.values()].filter((ids) => ids.size !== 1)).toEqual([]); // never two webhook-ids for one event
  expect([...eventsOf.values()].filter((events) => events.size !== 1)).toEqual([]);
  // The requests cut by the kill were sent again with their webhook-id after the lease ran out.
  const resent = onTheWire.filter((id) => receiver.received.filter((r) => r.headers['webhook-id'] === id).length >= 2);
  expect(resent.length).toBeGreaterThan(0);
  await waitFor(() => env.ctx.db('webhook_deliveries').where({ tenant_id: t.tenantId, status: 'succeeded' }).count({ n: '*' }).first(), 'every delivery recorded as succeeded', {
    timeoutMs: 30_000,
    until: (row) => Number(row?.n) === EVENTS,
  });
  expect(await env.ctx.db('webhook_outbox').where({ tenant_id: t.tenantId }).count({ n: '*' }).first()).toEqual({ n: 0 });
  expect((await roles.stop()).code).toBe(0);
});
