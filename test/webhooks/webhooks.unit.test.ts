import { Webhook } from 'standardwebhooks';
import { judgeAttempt, retryDelayMs } from '../../src/webhooks/backoff';
import { takeWithRoom } from '../../src/db/webhook-deliveries';
import { DeliverySlots } from '../../src/webhooks/delivery-pump';
import { batchBody, planDeliveries } from '../../src/webhooks/dispatcher';
import { generateWebhookSecret, webhookHeaders } from '../../src/webhooks/signing';

test('the default retry schedule spans about a day', () => {
  const mid = () => 0.5;
  let total = 0;
  for (let n = 1; n < 14; n++) total += retryDelayMs(n, 10_000, mid);
  expect(total / 3600_000).toBeGreaterThan(20);
  expect(total / 3600_000).toBeLessThan(26);
});

test('2xx succeeds, 410 is gone, a 3xx or 5xx retries until the attempts are spent', () => {
  const opts = { baseMs: 100, maxAttempts: 3 };
  expect(judgeAttempt(204, 1, opts).kind).toBe('succeeded');
  expect(judgeAttempt(410, 1, opts).kind).toBe('gone');
  expect(judgeAttempt(301, 1, opts).kind).toBe('retry');
  expect(judgeAttempt(null, 2, opts).kind).toBe('retry');
  expect(judgeAttempt(500, 3, opts).kind).toBe('exhausted');
});

test('signatures from both secrets verify with standardwebhooks', () => {
  const a = generateWebhookSecret();
  const b = generateWebhookSecret();
  const body = '{"type":"message.sent","timestamp":"2026-11-30T00:00:00.000Z","data":{}}';
  const headers = webhookHeaders([a, b], 'msg_1', new Date(), body);
  expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
  for (const s of [a, b]) expect(new Webhook(s).verify(body, headers)).toMatchObject({ type: 'message.sent' });
});

test('fan-out: subscriptions filter, batching only packs message events, other tenants are not mixed in', () => {
  const ev = (seq: number, tenant: string, type: string) => ({ seq, tenant_id: tenant, type, payload: JSON.stringify({ type, n: seq }) });
  const events = [ev(1, 'A', 'message.sent'), ev(2, 'A', 'message.delivered'), ev(3, 'A', 'task.status'), ev(4, 'B', 'message.sent'), ev(5, 'A', 'message.sent')];
  let n = 0;
  const plan = planDeliveries(
    events,
    [
      { id: 'e1', tenant_id: 'A', event_types: ['*'], batch_max: 2 },
      { id: 'e2', tenant_id: 'A', event_types: ['task.status'], batch_max: 1 },
      { id: 'e3', tenant_id: 'B', event_types: ['message.sent'], batch_max: 1 },
    ],
    new Date(0),
    () => `d${++n}`,
  );
  expect(plan.map((d) => [d.endpoint_id, d.event_type, d.event_count])).toEqual([
    ['e1', 'task.status', 1],
    ['e1', 'batch', 2],
    ['e1', 'batch', 1],
    ['e2', 'task.status', 1],
    ['e3', 'message.sent', 1],
  ]);
  expect(JSON.parse(plan[1].body)).toEqual({ type: 'batch', timestamp: '1970-01-01T00:00:00.000Z', data: { events: [{ type: 'message.sent', n: 1 }, { type: 'message.delivered', n: 2 }] } });
  expect(JSON.parse(batchBody(['{"x":1}'], new Date(0))).data.events).toEqual([{ x: 1 }]);
});

test('a claim takes, in order, only what each endpoint has room for', () => {
  const rows = ['a', 'a', 'b', 'a', 'c', 'b'].map((endpoint_id, i) => ({ endpoint_id, i }));
  const room: Record<string, number> = { a: 2, b: 1, c: 0 };
  expect(takeWithRoom(rows, (ep) => room[ep]).map((r) => r.i)).toEqual([0, 1, 2]);
});

test('delivery slots: an endpoint without room is left out of claims, the others keep theirs', () => {
  const slots = new DeliverySlots(8, 4); // 4 in flight per endpoint, 16 held; 8 in flight, 32 held in all
  expect(slots.worthClaiming()).toBe(true);
  for (let i = 0; i < 16; i++) slots.held.take('slow');
  for (let i = 0; i < 4; i++) slots.inFlight.take('slow');
  expect(slots.canStart('slow')).toBe(false);
  expect(slots.canStart('fast')).toBe(true);
  expect(slots.crowded()).toEqual(['slow']);
  expect(slots.held.roomOf('fast')).toBe(16);
  expect(slots.worthClaiming()).toBe(true); // 16 of 32 held: half free
  slots.held.take('fast');
  expect(slots.worthClaiming()).toBe(false);
  // Room comes back in batches: worth a claim again at half the held cap (16 of 32 free), then for an
  // endpoint at half its share (8 of 16), not at every finished request.
  slots.held.release('slow');
  expect(slots.justWorthClaiming('slow')).toBe(true);
  for (let i = 2; i < 8; i++) {
    slots.held.release('slow');
    expect(slots.justWorthClaiming('slow')).toBe(false);
  }
  slots.held.release('slow');
  expect(slots.justWorthClaiming('slow')).toBe(true);
  expect(slots.crowded()).toEqual([]);
});
