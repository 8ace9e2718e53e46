import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/**
 * SSRF guard for tenant webhook URLs. The address is checked where the socket connects: the agent's
 * `lookup` resolves the name and refuses a forbidden address, so a name that resolves to a public
 * address when the endpoint is saved and to 127.0.0.1 at delivery (DNS rebinding) is still refused.
 * IP-literal hosts skip `lookup` in Node, so they are checked before the request.
 */
export interface SsrfPolicy {
  /** Allow every address (WEBHOOK_ALLOW_PRIVATE=true): development only. */
  allowPrivate: boolean;
  /** Ranges allowed despite being in a forbidden one (WEBHOOK_ALLOWED_CIDRS, e.g. `127.0.0.1/32`). */
  allowed: BlockList;
}

export class SsrfError extends Error {
  readonly code = 'webhook_address_forbidden';
  constructor(message: string) {
    super(message);
    this.name = 'SsrfError';
  }
}

/** Loopback, private, link-local (cloud metadata 169.254.169.254 and fd00:ec2::254 included), CGNAT, multicast, reserved. */
const FORBIDDEN = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) FORBIDDEN.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const) FORBIDDEN.addSubnet(net, prefix, 'ipv6');

/** Parses `cidr,cidr` (a bare address means that one address). */
export function parseAllowList(spec: string | undefined): BlockList {
  const list = new BlockList();
  for (const entry of (spec ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const [addr, bits] = entry.split('/');
    const family = isIP(addr);
    if (!family) throw new Error(`"${entry}" is not an IP address or CIDR range`);
    const type = family === 6 ? 'ipv6' : 'ipv4';
    list.addSubnet(addr, bits === undefined ? (family === 6 ? 128 : 32) : Number(bits), type);
  }
  return list;
}

/** IPv4-mapped IPv6 (::ffff:127.0.0.1) is judged as the IPv4 address it carries. */
function normalise(address: string): { address: string; type: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1], type: 'ipv4' };
  return { address, type: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

export function isAddressAllowed(policy: SsrfPolicy, address: string): boolean {
  if (policy.allowPrivate) return true;
  const a = normalise(address);
  if (policy.allowed.check(a.address, a.type)) return true;
  return !FORBIDDEN.check(a.address, a.type);
}

/** Refuses non-http(s) URLs and IP-literal hosts in forbidden ranges (names are checked at connect time). */
export function assertUrlAllowed(policy: SsrfPolicy, url: URL): void {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SsrfError(`scheme ${url.protocol} is not allowed`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) && !isAddressAllowed(policy, host)) throw new SsrfError(`address ${host} is not allowed`);
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` for http(s) agents that resolves, then refuses the connection if any answer is forbidden. */
export function guardedLookup(policy: SsrfPolicy) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const list = addresses as LookupAddress[];
      const bad = list.find((a) => !isAddressAllowed(policy, a.address));
      if (bad) return callback(Object.assign(new SsrfError(`${hostname} resolves to ${bad.address}, which is not allowed`), { errno: undefined }), []);
      if (options.all) return callback(null, list);
      callback(null, list[0].address, list[0].family);
    });
  };
}
