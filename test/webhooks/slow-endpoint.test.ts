import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { insertEndpoint } from '../../src/db/webhook-endpoints';
import { publishWebhookEvents } from '../../src/webhooks/publish';
import { generateWebhookSecret } from '../../src/webhooks/signing';
import { startWebhookDeliverWorker } from '../../workers/webhook-deliver.worker';
import type { RunningWorker } from '../../workers';
import { createTenant, createTestEnv, type TestEnv } from '../helpers/env';
import { waitFor } from '../helpers/wait';
import { startReceiver, type Receiver } from './receiver';

/**
 * A hanging endpoint holds only its own delivery slots: one tenant's endpoint never answers (its requests
 * wait for the timeout) while another tenant's deliveries keep flowing. The hanging endpoint's events are
 * published first and outnumber the worker's slots, so a shared first-come pool would give every slot
 * to it; the check is on counts and order (all the fast events arrived while no hanging request has
 * ended yet), not on the machine's speed.
 */
jest.setTimeout(240_000);

const CONCURRENCY = 8;
const PER_ENDPOINT = 4;
// Long enough that no hanging request ends (times out) while the other tenant's events are delivered.
const TIMEOUT_MS = 60_000;

interface HangingServer {
  url: string;
  /** Requests that arrived (and were never answered). */
  arrived: number;
  /** Requests whose connection ended (the worker gave up or was stopped). */
  ended: number;
  close(): Promise<void>;
}

async function startHangingServer(): Promise<HangingServer> {
  const state = { arrived: 0, ended: 0 };
  const server = http.createServer((req) => {
    state.arrived++;
    req.socket.once('close', () => state.ended++);
    req.resume(); // read the body, never answer
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hang`,
    get arrived() {
      return state.arrived;
    },
    get ended() {
      return state.ended;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let env: TestEnv;
let worker: RunningWorker;
let receiver: Receiver;
let hanging: HangingServer;
beforeAll(async () => {
  env = await createTestEnv('webhooks-slow', { env: { WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32', WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS) } });
  receiver = await startReceiver();
  hanging = await startHangingServer();
});
afterAll(async () => {
  await worker?.close();
  await hanging?.close();
  await receiver?.close();
  await env?.close();
});

const messageEvents = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ type: 'message.sent' as const, data: { message_id: `${tag}-${i}` } }));

test("one tenant's hanging endpoint does not delay another tenant's deliveries", async () => {
  const keyRing = env.config.channels.keyRing;
  const slow = await createTenant(env);
  const fast = await createTenant(env);
  const endpoint = (tenantId: string, url: string) =>
    insertEndpoint(env.ctx.db, keyRing, { tenantId, name: 'crm', url, eventTypes: ['message.sent'], active: true, batchMax: 1, secret: generateWebhookSecret(), createdBy: null });
  await endpoint(slow.tenantId, hanging.url);
  await endpoint(fast.tenantId, `${receiver.url}/fast`);

  // The hanging tenant's events first, five times the worker's slots; then the other tenant's.
  await env.ctx.db.transaction((trx) => publishWebhookEvents(trx, slow.tenantId, messageEvents(5 * CONCURRENCY, 'slow')));
  await env.ctx.db.transaction((trx) => publishWebhookEvents(trx, fast.tenantId, messageEvents(3 * CONCURRENCY, 'fast')));
  worker = startWebhookDeliverWorker(env.ctx, { concurrency: CONCURRENCY, perEndpoint: PER_ENDPOINT, idleMs: 50 });

  const fastIds = () => new Set(receiver.received.filter((r) => r.path === '/fast').map((r) => r.headers['webhook-id']));
  await waitFor(() => fastIds().size, 'every event of the other tenant delivered', { timeoutMs: 2 * TIMEOUT_MS, until: (n) => n === 3 * CONCURRENCY });
  // …while the hanging endpoint holds its own slots only, and none of its requests has ended yet.
  expect(hanging.ended).toBe(0);
  expect(hanging.arrived).toBeGreaterThan(0);
  expect(hanging.arrived).toBeLessThanOrEqual(PER_ENDPOINT);
  const pendingSlow = await env.ctx.db('webhook_deliveries').where({ tenant_id: slow.tenantId, status: 'pending' }).count({ n: '*' }).first();
  expect(Number(pendingSlow?.n)).toBe(5 * CONCURRENCY);
});
