import { lookup } from 'node:dns/promises';
import { BlockList } from 'node:net';
import { WebhookHttpSender } from '../../src/webhooks/http-sender';
import { isAddressAllowed, parseAllowList } from '../../src/webhooks/ssrf';
import { startReceiver, type Receiver } from './receiver';

/**
 * The SSRF guard against a real receiver on loopback: a name is judged by the address it resolves to,
 * at connect time (`localhost` is a name that resolves to loopback, as a rebinding name would), and the
 * same receiver is reached once loopback is allowed explicitly.
 */
let receiver: Receiver;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(() => receiver.close());

const strict = { allowPrivate: false, allowed: new BlockList() };

test('a host name resolving to loopback is refused at connect time, and nothing reaches the receiver', async () => {
  const sender = new WebhookHttpSender(strict, 3000);
  const port = new URL(receiver.url).port;
  try {
    const out = await sender.post(`http://localhost:${port}/by-name`, {}, '{}');
    expect(out).toMatchObject({ statusCode: null, forbidden: true });
    expect(out.error).toMatch(/resolves to .* not allowed/);
    const literal = await sender.post(`${receiver.url}/by-ip`, {}, '{}');
    expect(literal).toMatchObject({ statusCode: null, forbidden: true });
    const mapped = await sender.post(`http://[::ffff:127.0.0.1]:${port}/mapped`, {}, '{}');
    expect(mapped).toMatchObject({ statusCode: null, forbidden: true });
    // The receiver is shared with the allow-list test, which may run first (--randomize): count this test's paths.
    expect(receiver.received.filter((r) => ['/by-name', '/by-ip', '/mapped'].includes(r.path))).toEqual([]);
  } finally {
    sender.close();
  }
});

test('loopback allowed by the allow-list (or WEBHOOK_ALLOW_PRIVATE) is reached', async () => {
  const resolved = (await lookup('localhost', { all: true })).map((a) => a.address);
  const allowList = parseAllowList(['127.0.0.0/8', '::1'].join(','));
  for (const policy of [{ allowPrivate: false, allowed: allowList }, { allowPrivate: true, allowed: new BlockList() }]) {
    const sender = new WebhookHttpSender(policy, 3000);
    try {
      const port = new URL(receiver.url).port;
      const out = await sender.post(`http://${resolved.includes('127.0.0.1') ? 'localhost' : '127.0.0.1'}:${port}/allowed`, {}, '{"a":1}');
      expect(out).toMatchObject({ statusCode: 200, forbidden: false, excerpt: 'answered 200' });
    } finally {
      sender.close();
    }
  }
  expect(receiver.received.filter((r) => r.path === '/allowed').map((r) => r.body)).toEqual(['{"a":1}', '{"a":1}']);
});

test('the forbidden ranges: loopback, private, link-local and metadata, CGNAT, IPv6 local; public addresses pass', () => {
  for (const a of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '100.100.100.200', '0.0.0.0', '::1', 'fe80::1', 'fd00:ec2::254', '::ffff:10.0.0.1']) {
    expect(`${a} ${isAddressAllowed(strict, a)}`).toBe(`${a} false`);
  }
  for (const a of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111']) expect(`${a} ${isAddressAllowed(strict, a)}`).toBe(`${a} true`);
});
