import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyCallbackSignature, type GatewayCallback } from '../../src/gateway/callback-protocol';
import { GatewayError } from '../../src/gateway/errors';
import { HttpGatewayClient } from '../../src/gateway/http-client';
import { startSimulator, type RunningSimulator } from '../../src/gateway/simulator';
import { http } from '../helpers/http';
import type { LoginQr } from '../../src/gateway/types';
import { waitFor } from '../helpers/wait';

/** Waits until `ok(read())` and returns the value read. */
const until = <T>(read: () => T | Promise<T>, ok: (v: Awaited<T>) => boolean, what: string) => waitFor(read, what, { until: ok, intervalMs: 20 });

/** The gateway HTTP client against the built-in simulator over real HTTP: protocol, error kinds, faults. */
const SECRET = 'test-callback-secret';
const API_KEY = 'test-gateway-key';

let sim: RunningSimulator;
let gw: HttpGatewayClient;
let receiver: { server: Server; url: string; received: GatewayCallback[]; badSignatures: number; failNext: number };

async function startReceiver() {
  const r = { received: [] as GatewayCallback[], badSignatures: 0, failNext: 0, server: undefined as unknown as Server, url: '' };
  r.server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (r.failNext > 0) {
        r.failNext--;
        res.statusCode = 500;
        return res.end();
      }
      const raw = Buffer.concat(chunks);
      const check = verifyCallbackSignature(SECRET, raw, { signature: req.headers['x-gateway-signature'] as string, timestamp: req.headers['x-gateway-timestamp'] as string }, 60);
      if (check !== 'ok') r.badSignatures++;
      else r.received.push(JSON.parse(raw.toString('utf8')) as GatewayCallback);
      res.statusCode = 200;
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(r.server.address() as AddressInfo).port}/callbacks/gateway`;
  return r;
}

async function expectGatewayError(p: Promise<unknown>, kind: GatewayError['kind'], code?: string): Promise<GatewayError> {
  const err = await p.then(
    () => {
      throw new Error(`expected GatewayError ${kind}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GatewayError);
  const ge = err as GatewayError;
  expect(ge.kind).toBe(kind);
  if (code) expect(ge.code).toBe(code);
  return ge;
}

async function onlineInstance(): Promise<string> {
  const { guid } = await gw.createInstance({ label: 'sim' });
  await gw.startLogin(guid);
  sim.control.scan(guid);
  sim.control.confirm(guid);
  return guid;
}

beforeAll(async () => {
  receiver = await startReceiver();
  sim = await startSimulator({ callbackUrl: receiver.url, callbackSecret: SECRET, apiKey: API_KEY, callbackQueue: { retryBaseMs: 10 } });
  // A generous timeout: a loaded machine can take seconds to render the first QR PNG (timeouts have their own test).
  gw = new HttpGatewayClient({ url: sim.url, apiKey: API_KEY, timeoutMs: 15_000 });
});
afterAll(async () => {
  await gw.close();
  await sim.close();
  await new Promise<void>((r) => receiver.server.close(() => r()));
});
beforeEach(() => {
  sim.control.reset();
  receiver.received.length = 0;
});

test('QR login: real PNG, scan, confirm, online; status and conversations follow', async () => {
  const { guid } = await gw.createInstance({ label: 'Alice' });
  const qr = (await gw.startLogin(guid)) as LoginQr;
  expect(Buffer.from(qr.qrPngBase64, 'base64').subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  expect(qr.expiresAt.getTime()).toBeGreaterThan(Date.now());
  expect((await gw.getLoginProgress(guid)).state).toBe('waiting_scan');
  await http('POST', `${sim.url}/_control/instances/${guid}/scan`);
  expect((await gw.getLoginProgress(guid)).state).toBe('waiting_confirm');
  await http('POST', `${sim.url}/_control/instances/${guid}/confirm`);
  const progress = await gw.getLoginProgress(guid);
  expect(progress).toMatchObject({ state: 'online', userInfo: { name: 'Alice' } });
  const status = await gw.getStatus(guid);
  expect(status.online).toBe(true);
  expect(status.lastHeartbeat).toBeInstanceOf(Date);
  const [s1, s2] = await gw.getStatuses([guid, 'sim-unknown']);
  expect([s1.online, s2.online]).toEqual([true, false]);
  const convs = await gw.listConversations(guid);
  expect(convs.some((c) => c.type === 'private')).toBe(true);
  expect(convs.some((c) => c.type === 'group' && c.memberCount > 2)).toBe(true);

  const cbs = await until(() => receiver.received.filter((c) => c.guid === guid), (l) => l.length >= 2, 'login callbacks');
  expect(cbs.map((c) => [c.notify_type, c.payload.state ?? null])).toEqual([
    [7, 'waiting_confirm'],
    [1, null],
  ]);
  expect(receiver.badSignatures).toBe(0);
});

test('verification code: wrong code reports wrong_code, right code logs in', async () => {
  const { guid } = await gw.createInstance({});
  await gw.startLogin(guid);
  sim.control.requireVerify(guid, '424242');
  sim.control.scan(guid);
  sim.control.confirm(guid);
  expect((await gw.getLoginProgress(guid)).state).toBe('need_verify');
  expect(await gw.submitVerifyCode(guid, '000000')).toEqual({ state: 'verify_failed', reason: 'wrong_code' });
  expect((await gw.getLoginProgress(guid)).state).toBe('need_verify');
  expect((await gw.submitVerifyCode(guid, '424242')).state).toBe('online');
});

test('QR codes expire, and a cancelled login reports cancelled', async () => {
  sim.control.configure({ qr_ttl_ms: 50 });
  const { guid } = await gw.createInstance({});
  await gw.startLogin(guid);
  await until(() => gw.getLoginProgress(guid), (p) => p.state === 'qr_expired', 'QR expiry');
  await until(() => receiver.received.filter((c) => c.guid === guid && c.payload.state === 'qr_expired'), (l) => l.length === 1, 'qr_expired callback');
  sim.control.configure({ qr_ttl_ms: 60_000 });
  await gw.startLogin(guid);
  await gw.cancelLogin(guid);
  expect((await gw.getLoginProgress(guid)).state).toBe('cancelled');
});

test('auto mode logs an instance in by itself', async () => {
  sim.control.configure({ auto_login: true, auto_login_delay_ms: 10 });
  const { guid } = await gw.createInstance({});
  await gw.startLogin(guid);
  await until(() => gw.getLoginProgress(guid), (p) => p.state === 'online', 'auto login');
});

test('kick and logout send offline callbacks with their scene', async () => {
  const guid = await onlineInstance();
  await http('POST', `${sim.url}/_control/instances/${guid}/kick`, { body: { scene: 'kicked' } });
  expect(await gw.getLoginProgress(guid)).toEqual({ state: 'offline', scene: 'kicked' });
  expect((await gw.getStatus(guid)).online).toBe(false);
  const g2 = await onlineInstance();
  await gw.logout(g2);
  const offline = await until(() => receiver.received.filter((c) => c.notify_type === 2), (l) => l.length === 2, 'offline callbacks');
  expect(offline.map((c) => [c.guid, c.payload.scene])).toEqual([
    [guid, 'kicked'],
    [g2, 'logout'],
  ]);
});

test('sends are idempotent by key; the ledger counts deliveries; receipts arrive as callbacks', async () => {
  const guid = await onlineInstance();
  const req = { guid, conversationId: 'wm-x-c1', content: { type: 'text' as const, text: 'hi' }, idempotencyKey: 'msg-1' };
  const sentAt = Date.now();
  const first = await gw.sendMessage(req);
  const answeredAt = Date.now();
  const again = await gw.sendMessage(req);
  expect(first.duplicate).toBe(false);
  // The limiter counted it on arrival; the client bounds that on its own clock, within the round trip.
  expect(first.countedBy).toBeGreaterThanOrEqual(sentAt);
  expect(first.countedBy).toBeLessThanOrEqual(answeredAt);
  // A duplicate took nothing from the limiter: no count reported.
  expect(again).toEqual({ gatewayMessageId: first.gatewayMessageId, duplicate: true });
  const ledger = (await http('GET', `${sim.url}/_control/ledger`)).body;
  expect(ledger).toMatchObject({ total_requests: 2, total_deliveries: 1, unique_keys: 1, duplicate_requests: 1, duplicate_deliveries: 0 });
  expect((await http('GET', `${sim.url}/_control/ledger/msg-1`)).body.deliveries).toBe(1);
  const receipts = await until(
    () => receiver.received.filter((c) => c.notify_type === 3).flatMap((c) => c.payload.messages as Array<{ msg_id: string; status: string }>),
    (l) => l.length >= 1,
    'receipt',
  );
  expect(receipts).toEqual([expect.objectContaining({ kind: 'receipt', msg_id: first.gatewayMessageId, status: 'delivered' })]);
});

test('a lost acknowledgement is retryable and the retry does not deliver twice', async () => {
  const guid = await onlineInstance();
  sim.control.configure({ ack_loss_rate: 1 });
  const req = { guid, conversationId: 'c', content: { type: 'text' as const, text: 'x' }, idempotencyKey: 'ack-1' };
  await expectGatewayError(gw.sendMessage(req), 'retryable', 'upstream_timeout');
  sim.control.configure({ ack_loss_rate: 0 });
  expect((await gw.sendMessage(req)).duplicate).toBe(true);
  expect(sim.control.ledger.summary()).toMatchObject({ total_deliveries: 1, duplicate_deliveries: 0 });
});

test('with idempotency switched off the ledger exposes duplicate deliveries', async () => {
  const guid = await onlineInstance();
  await http('PATCH', `${sim.url}/_control/settings`, { body: { idempotency: false } });
  const req = { guid, conversationId: 'c', content: { type: 'text' as const, text: 'x' }, idempotencyKey: 'dup-1' };
  await gw.sendMessage(req);
  await gw.sendMessage(req);
  expect((await http('GET', `${sim.url}/_control/ledger`)).body).toMatchObject({ total_deliveries: 2, duplicate_deliveries: 1 });
});

describe('batch sends (POST /messages/batch)', () => {
  const text = (t: string) => ({ type: 'text' as const, text: t });

  test('sends ready together leave as one request; each keeps its own key, result and count', async () => {
    const [a, b] = [await onlineInstance(), await onlineInstance()];
    const batched = new HttpGatewayClient({ url: sim.url, apiKey: API_KEY, timeoutMs: 15_000, batchSends: true });
    try {
      await batched.sendMessage({ guid: a, conversationId: 'c', content: text('earlier'), idempotencyKey: 'b-earlier' });
      expect(sim.control.counters.batch_requests).toBe(0); // a lone send goes alone
      const sentAt = Date.now();
      const results = await Promise.all([
        batched.sendMessage({ guid: a, conversationId: 'c1', content: text('one'), idempotencyKey: 'b-1' }),
        batched.sendMessage({ guid: b, conversationId: 'c2', content: text('two'), idempotencyKey: 'b-2' }),
        batched.sendMessage({ guid: a, conversationId: 'c', content: text('earlier'), idempotencyKey: 'b-earlier' }),
        batched.sendMessage({ guid: b, conversationId: 'c3', content: text('three'), idempotencyKey: 'b-3' }),
        batched.sendMessage({ guid: b, conversationId: 'c3', content: text('three'), idempotencyKey: 'b-3' }),
      ]);
      const answeredAt = Date.now();
      expect(sim.control.counters.batch_requests).toBe(1);
      expect(results.map((r) => r.duplicate)).toEqual([false, false, true, false, true]);
      expect(new Set(results.map((r) => r.gatewayMessageId)).size).toBe(4);
      expect(results[4].gatewayMessageId).toBe(results[3].gatewayMessageId);
      // Each fresh send was counted by the limiter on arrival, bounded within the batch's round trip.
      for (const r of [results[0], results[1], results[3]]) {
        expect(r.countedBy).toBeGreaterThanOrEqual(sentAt);
        expect(r.countedBy).toBeLessThanOrEqual(answeredAt);
      }
      expect(results[2].countedBy).toBeUndefined();
      for (const k of ['b-earlier', 'b-1', 'b-2', 'b-3']) expect(sim.control.ledger.deliveriesOf(k)).toBe(1);
    } finally {
      await batched.close();
    }
  });

  test('a mixed batch: the failures get their own error kinds, the rest is delivered, retries deliver once', async () => {
    const online = await onlineInstance();
    const { guid: offline } = await gw.createInstance({});
    sim.control.configure({ permanent_targets: ['gone'], send_rate_per_minute: 3 });
    const batched = new HttpGatewayClient({ url: sim.url, apiKey: API_KEY, timeoutMs: 15_000, batchSends: true });
    try {
      const settled = await Promise.allSettled([
        batched.sendMessage({ guid: online, conversationId: 'ok-1', content: text('x'), idempotencyKey: 'mx-1' }),
        batched.sendMessage({ guid: offline, conversationId: 'c', content: text('x'), idempotencyKey: 'mx-2' }),
        batched.sendMessage({ guid: 'sim-nope', conversationId: 'c', content: text('x'), idempotencyKey: 'mx-3' }),
        batched.sendMessage({ guid: online, conversationId: 'gone', content: text('x'), idempotencyKey: 'mx-4' }),
        batched.sendMessage({ guid: online, conversationId: 'ok-2', content: text('x'), idempotencyKey: 'mx-5' }),
        batched.sendMessage({ guid: online, conversationId: 'ok-3', content: text('x'), idempotencyKey: 'mx-6' }),
        // The account's fourth send within its rate of 3 a minute (gone took none).
        batched.sendMessage({ guid: online, conversationId: 'ok-4', content: text('x'), idempotencyKey: 'mx-7' }),
      ]);
      expect(sim.control.counters.batch_requests).toBe(1);
      const kinds = settled.map((s) => (s.status === 'fulfilled' ? 'sent' : `${(s.reason as GatewayError).kind}/${(s.reason as GatewayError).code}`));
      expect(kinds).toEqual(['sent', 'account_offline/account_offline', 'account_offline/instance_not_found', 'permanent/target_not_found', 'sent', 'sent', 'rate_limited/rate_limited']);
      expect(((settled[6] as PromiseRejectedResult).reason as GatewayError).retryAfterMs).toBeGreaterThan(0);
      expect(sim.control.ledger.summary()).toMatchObject({ total_deliveries: 3, duplicate_deliveries: 0 });
      // Every item carried its key: the delivered ones answer as duplicates when sent again together.
      sim.control.configure({ send_rate_per_minute: 0 });
      const again = await Promise.all(['mx-1', 'mx-5', 'mx-7'].map((k, i) => batched.sendMessage({ guid: online, conversationId: `ok-${[1, 2, 4][i]}`, content: text('x'), idempotencyKey: k })));
      expect(again.map((r) => r.duplicate)).toEqual([true, true, false]);
      expect(sim.control.ledger.summary()).toMatchObject({ total_deliveries: 4, duplicate_deliveries: 0 });
    } finally {
      await batched.close();
    }
  });

  test('the route answers per item on the wire; a malformed batch or a wrong key fails as a whole', async () => {
    const guid = await onlineInstance();
    const post = (body: unknown, key = API_KEY) => http('POST', `${sim.url}/messages/batch`, { headers: { 'x-api-key': key }, body });
    const res = await post({ sends: [{ guid, idempotency_key: 'w-1', conversation_id: 'c', content: text('x') }, { guid, idempotency_key: 'w-2', content: text('x') }, { idempotency_key: 'w-3', conversation_id: 'c', content: text('x') }] });
    expect(res.status).toBe(200);
    expect(res.body.results).toEqual([
      { message_id: expect.any(String), duplicate: false, counted_at: expect.any(Number) },
      { status: 400, error: { code: 'bad_request', message: expect.stringMatching(/conversation_id/) } },
      { status: 400, error: { code: 'bad_request', message: expect.stringMatching(/guid/) } },
    ]);
    for (const bad of [{}, { sends: [] }, { sends: 'x' }, { sends: [1] }, { sends: Array.from({ length: 101 }, () => ({})) }]) {
      const r = await post(bad);
      expect({ bad, status: r.status, code: r.body.error?.code }).toEqual({ bad, status: 400, code: 'bad_request' });
    }
    expect((await post({ sends: [{ guid, idempotency_key: 'w-4', conversation_id: 'c', content: text('x') }] }, 'nope')).status).toBe(401);
    expect(sim.control.ledger.summary().total_deliveries).toBe(1);
  });

  test('a gateway without the route gets single sends, and nothing is lost or sent twice', async () => {
    const guid = await onlineInstance();
    // An older gateway: the simulator behind a proxy that has no batch route.
    let batchAsks = 0;
    const old = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        if (req.url === '/messages/batch') {
          batchAsks++;
          res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'not_found', message: 'no such route' } }));
          return;
        }
        const up = await fetch(`${sim.url}${req.url}`, { method: req.method, headers: req.headers as Record<string, string>, body: chunks.length ? Buffer.concat(chunks) : undefined });
        res.writeHead(up.status, { 'content-type': 'application/json' }).end(Buffer.from(await up.arrayBuffer()));
      });
    });
    await new Promise<void>((r) => old.listen(0, '127.0.0.1', r));
    const batched = new HttpGatewayClient({ url: `http://127.0.0.1:${(old.address() as AddressInfo).port}`, apiKey: API_KEY, timeoutMs: 15_000, batchSends: true });
    try {
      const send = (k: string) => batched.sendMessage({ guid, conversationId: `c-${k}`, content: text('x'), idempotencyKey: k });
      const first = await Promise.all(['o-1', 'o-2', 'o-3'].map(send));
      const later = await Promise.all(['o-4', 'o-5'].map(send));
      expect([...first, ...later].map((r) => r.duplicate)).toEqual([false, false, false, false, false]);
      expect(batchAsks).toBe(1); // asked once, then remembered
      expect(sim.control.ledger.summary()).toMatchObject({ total_deliveries: 5, duplicate_deliveries: 0 });
    } finally {
      await batched.close();
      await new Promise<void>((r) => old.close(() => r()));
    }
  });
});

describe('error kinds', () => {
  test('per-account rate limit answers 429 with Retry-After; the client maps it to rate_limited', async () => {
    const guid = await onlineInstance();
    await http('PATCH', `${sim.url}/_control/settings`, { body: { send_rate_per_minute: 2 } });
    const send = (k: string) => gw.sendMessage({ guid, conversationId: 'c', content: { type: 'text', text: 'x' }, idempotencyKey: k });
    await send('r1');
    await send('r2');
    const err = await expectGatewayError(send('r3'), 'rate_limited', 'rate_limited');
    expect(err.retryAfterMs).toBeGreaterThan(0);
    const raw = await http('POST', `${sim.url}/instances/${guid}/messages`, {
      headers: { 'x-api-key': API_KEY, 'idempotency-key': 'r4' },
      body: { conversation_id: 'c', content: { type: 'text', text: 'x' } },
    });
    expect(raw.status).toBe(429);
    expect(Number(raw.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(raw.body.error.code).toBe('rate_limited');
    // another instance has its own budget
    const other = await onlineInstance();
    await expect(gw.sendMessage({ guid: other, conversationId: 'c', content: { type: 'text', text: 'x' }, idempotencyKey: 'o1' })).resolves.toMatchObject({ duplicate: false });
  });

  test('offline instance → account_offline; unknown instance, bad target, rejected content → permanent', async () => {
    const { guid } = await gw.createInstance({});
    const base = { conversationId: 'c', content: { type: 'text' as const, text: 'hello' } };
    await expectGatewayError(gw.sendMessage({ guid, ...base, idempotencyKey: 'k1' }), 'account_offline', 'account_offline');
    await expectGatewayError(gw.sendMessage({ guid: 'sim-nope', ...base, idempotencyKey: 'k2' }), 'account_offline', 'instance_not_found');
    const online = await onlineInstance();
    sim.control.configure({ permanent_targets: ['gone'], rejected_words: ['forbidden'] });
    await expectGatewayError(gw.sendMessage({ guid: online, ...base, conversationId: 'gone', idempotencyKey: 'k3' }), 'permanent', 'target_not_found');
    await expectGatewayError(
      gw.sendMessage({ guid: online, conversationId: 'c', content: { type: 'text', text: 'a forbidden word' }, idempotencyKey: 'k4' }),
      'permanent',
      'content_rejected',
    );
    expect(sim.control.ledger.summary().total_deliveries).toBe(0);
  });

  test('injected failures → retryable; a later retry of the same key delivers once', async () => {
    const guid = await onlineInstance();
    sim.control.configure({ failure_rate: 1 });
    const req = { guid, conversationId: 'c', content: { type: 'text' as const, text: 'x' }, idempotencyKey: 'f1' };
    await expectGatewayError(gw.sendMessage(req), 'retryable', 'gateway_busy');
    sim.control.configure({ failure_rate: 0 });
    expect((await gw.sendMessage(req)).duplicate).toBe(false);
    expect(sim.control.ledger.deliveriesOf('f1')).toBe(1);
  });

  test('timeouts and refused connections → retryable; a wrong API key → permanent', async () => {
    sim.control.configure({ latency_ms: 300 });
    const impatient = new HttpGatewayClient({ url: sim.url, apiKey: API_KEY, timeoutMs: 50 });
    await expectGatewayError(impatient.createInstance({}), 'retryable', 'timeout');
    await impatient.close();
    sim.control.configure({ latency_ms: 0 });
    const nowhere = new HttpGatewayClient({ url: 'http://127.0.0.1:1', apiKey: API_KEY, timeoutMs: 1000 });
    await expectGatewayError(nowhere.createInstance({}), 'retryable');
    await nowhere.close();
    const wrongKey = new HttpGatewayClient({ url: sim.url, apiKey: 'nope', timeoutMs: 1000 });
    await expectGatewayError(wrongKey.createInstance({}), 'permanent', 'unauthorized');
    await wrongKey.close();
  });

  test('login failure injection: retryable then permanent', async () => {
    const { guid } = await gw.createInstance({});
    await http('POST', `${sim.url}/_control/instances/${guid}/fail-login`, { body: { kind: 'retryable' } });
    await expectGatewayError(gw.startLogin(guid), 'retryable', 'login_unavailable');
    sim.control.failLogin(guid, 'permanent');
    await expectGatewayError(gw.startLogin(guid), 'permanent', 'login_blocked');
    await expect(gw.startLogin(guid)).resolves.toHaveProperty('qrContent');
  });
});

describe('control API and callback delivery', () => {
  test('bad settings are refused; unknown settings name the key', async () => {
    const res = await http('PATCH', `${sim.url}/_control/settings`, { body: { failure_rate: 2 } });
    expect(res.status).toBe(400);
    const typo = await http('PATCH', `${sim.url}/_control/settings`, { body: { fialure_rate: 0.1 } });
    expect(typo.body.error.message).toContain('fialure_rate');
  });

  test('incoming messages are posted as notify 3; failing receivers are retried, then dropped and counted', async () => {
    const guid = await onlineInstance();
    receiver.failNext = 1;
    await http('POST', `${sim.url}/_control/instances/${guid}/incoming`, { body: { conversation_id: 'wm-1', text: 'hello there' } });
    const incoming = await until(
      () => receiver.received.filter((c) => c.notify_type === 3).flatMap((c) => c.payload.messages as Array<{ kind: string }>),
      (l) => l.some((m) => m.kind === 'incoming'),
      'incoming message',
    );
    expect(incoming[0]).toMatchObject({ kind: 'incoming', conversation_id: 'wm-1', content: { text: 'hello there' } });
    expect(sim.callbacks.stats.failed_attempts).toBeGreaterThanOrEqual(1);

    receiver.failNext = 100;
    const before = sim.callbacks.stats.dropped_after_retries;
    sim.control.kick(guid, 'network');
    await until(() => sim.callbacks.stats.dropped_after_retries, (n) => n === before + 1, 'dropped callback');
    receiver.failNext = 0;
    const stats = (await http('GET', `${sim.url}/_control/stats`)).body;
    expect(stats.callbacks.dropped_after_retries).toBe(before + 1);
  });
});

test('with a control token set, /_control needs it as a bearer token; the gateway API keeps its own key', async () => {
  const guarded = await startSimulator({ callbackSecret: SECRET, apiKey: API_KEY, controlToken: 'control-secret-1' });
  try {
    expect((await http('GET', `${guarded.url}/_control/stats`)).status).toBe(401);
    expect((await http('POST', `${guarded.url}/_control/reset`, { token: 'wrong', body: {} })).status).toBe(401);
    expect((await http('GET', `${guarded.url}/_control/stats`, { token: 'control-secret-1' })).status).toBe(200);
    const client = new HttpGatewayClient({ url: guarded.url, apiKey: API_KEY, timeoutMs: 15_000 });
    try {
      expect((await client.createInstance({ label: 'x' })).guid).toBeTruthy();
    } finally {
      await client.close();
    }
  } finally {
    await guarded.close();
  }
});
