/**
 * Hash-tag shards (issue 14). On Redis Cluster every key whose name holds the same `{tag}` lands in one
 * slot, so one tag means one master carries all of it. Per-account state (pacing, leases, sleep marks,
 * login attempts) and the message-send queue are therefore spread over K tags derived from the base
 * prefix — `{wwp}` → `{wwp:0}` … `{wwp:K-1}` — an account's tag chosen by a stable hash of its id.
 * What is global (cron election, tenant daily caps, sweeper lock, other queues) stays under the base.
 * With K = 1 (the default) every key is exactly the base prefix's, as before sharding existed.
 */
export interface ShardedPrefix {
  prefix: string;
  shards?: number;
}

/** 32-bit FNV-1a: stable across processes, versions and platforms (unlike any runtime hash). */
export function stableHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function shardCount(p: ShardedPrefix): number {
  return Math.max(1, Math.floor(p.shards ?? 1));
}

/** The prefix of shard `n`: the base's hash tag with `:n` inside the braces (`{wwp}` → `{wwp:3}`). */
export function shardPrefix(p: ShardedPrefix, n: number): string {
  if (shardCount(p) === 1) return p.prefix;
  const open = p.prefix.indexOf('{');
  const close = open < 0 ? -1 : p.prefix.indexOf('}', open + 1);
  if (open < 0 || close < 0) return `${p.prefix}{${n}}`;
  return `${p.prefix.slice(0, close)}:${n}${p.prefix.slice(close)}`;
}

export function shardOf(p: ShardedPrefix, id: string): number {
  const k = shardCount(p);
  return k === 1 ? 0 : stableHash(id) % k;
}

/** The prefix under which an account's keys and send-queue jobs live. */
export function accountPrefix(p: ShardedPrefix, accountId: string): string {
  return shardPrefix(p, shardOf(p, accountId));
}

/**
 * The prefix of a tenant's spread state (its recipients' frequency counters): one tenant's keys share a
 * tag, so a batch of one task stays one slot, while tenants spread over the shards.
 */
export function tenantPrefix(p: ShardedPrefix, tenantId: string): string {
  return shardPrefix(p, shardOf(p, tenantId));
}

/** Every shard's prefix, shard 0 first (`[base]` when K = 1). */
export function allShardPrefixes(p: ShardedPrefix): string[] {
  return Array.from({ length: shardCount(p) }, (_, n) => shardPrefix(p, n));
}

/** The part of a key Redis Cluster hashes: the first non-empty `{…}`, or the whole key. */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return key.slice(open + 1, close);
  }
  return key;
}

/** Groups items by their key's hash tag, so each multi-key command or pipeline stays in one slot. */
export function groupByHashTag<T>(items: Iterable<T>, keyOf: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const tag = hashTagOf(keyOf(item));
    let g = groups.get(tag);
    if (!g) groups.set(tag, (g = []));
    g.push(item);
  }
  return [...groups.values()];
}
