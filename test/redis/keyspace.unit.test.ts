import { accountPrefix, allShardPrefixes, groupByHashTag, hashTagOf, shardOf, shardPrefix, stableHash } from '../../src/redis-keyspace';
import { keys } from '../../src/sending/redis-scripts';

test('with one shard every key stays exactly under the base prefix', () => {
  const p = { prefix: '{wwp}', shards: 1 };
  expect(allShardPrefixes(p)).toEqual(['{wwp}']);
  expect(accountPrefix(p, 'acc-1')).toBe('{wwp}');
  expect(keys.throttle(p, 'acc-1')).toBe('{wwp}:send:tat:acc-1');
  expect(keys.accountLock({ prefix: '{wwp}' }, 'acc-1')).toBe('{wwp}:send:lock:acc-1');
});

test('K shards put the shard number inside the hash tag, and an account always maps to the same one', () => {
  const p = { prefix: '{wwp}', shards: 6 };
  expect(allShardPrefixes(p)).toEqual(['{wwp:0}', '{wwp:1}', '{wwp:2}', '{wwp:3}', '{wwp:4}', '{wwp:5}']);
  expect(shardPrefix({ prefix: 'app{x}', shards: 2 }, 1)).toBe('app{x:1}');
  expect(shardPrefix({ prefix: 'plain', shards: 2 }, 1)).toBe('plain{1}');
  // FNV-1a 32 of "a" is 0xe40c292c: a fixed value, so shards never move between versions or processes.
  expect(stableHash('a')).toBe(0xe40c292c);
  expect(shardOf(p, 'acc-1')).toBe(shardOf({ ...p }, 'acc-1'));
  expect(keys.throttle(p, 'acc-1')).toBe(`{wwp:${shardOf(p, 'acc-1')}}:send:tat:acc-1`);
  // The tenant's cap stays in the base tag.
  expect(hashTagOf(keys.cap('{wwp}', 't1', '2026-01-01'))).toBe('wwp');
});

test("a tenant's frequency counters share one tag (one Lua call per batch) and tenants spread over the shards", () => {
  const p = { prefix: '{wwp}', shards: 6 };
  const tags = new Set(['c1', 'c2', 'c3'].map((c) => hashTagOf(keys.frequency(p, 'tenant-1', c, 'd:2026-11-30'))));
  expect([...tags]).toEqual([`wwp:${shardOf(p, 'tenant-1')}`]);
  const tenantsTags = new Set(Array.from({ length: 60 }, (_, i) => hashTagOf(keys.frequency(p, `tenant-${i}`, 'c1', 'd:2026-11-30'))));
  expect(tenantsTags.size).toBe(6);
  expect(keys.frequency({ prefix: '{wwp}' }, 'tenant-1', 'c1', 'd:2026-11-30')).toBe('{wwp}:fcap:tenant-1:d:2026-11-30:c1');
});

test('accounts spread over the shards roughly evenly', () => {
  const p = { prefix: '{wwp}', shards: 6 };
  const counts = new Array(6).fill(0);
  for (let i = 0; i < 6000; i++) counts[shardOf(p, `0192f${i.toString(16).padStart(8, '0')}-acc`)] += 1;
  for (const n of counts) expect(n).toBeGreaterThan(800);
});

test('groupByHashTag keeps each group within one tag', () => {
  const groups = groupByHashTag(['{a}:1', '{b}:1', '{a}:2', 'x', '{}y'], (k) => k);
  expect(groups).toEqual([['{a}:1', '{a}:2'], ['{b}:1'], ['x'], ['{}y']]);
});
