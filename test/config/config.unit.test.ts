import { ConfigError, loadConfig, parseTrustProxy } from '../../src/config';
import { parseRoles } from '../../src/main';

test('defaults suit a development machine', () => {
  const c = loadConfig({});
  expect(c.db).toMatchObject({ host: '127.0.0.1', port: 3306, user: 'root', password: '', database: 'wework_platform' });
  expect(c.redis.url).toBe('redis://127.0.0.1:6379');
  expect(c.http.port).toBe(3000);
  expect(c.gateway.url).toBeUndefined();
  expect(c.minio).toBeUndefined();
  expect(Object.isFrozen(c)).toBe(true);
});

test('a bad value is reported with the variable name', () => {
  expect(() => loadConfig({ DB_PORT: 'abc' })).toThrow(ConfigError);
  expect(() => loadConfig({ DB_PORT: 'abc' })).toThrow(/DB_PORT/);
  expect(() => loadConfig({ REDIS_URL: 'not a url' })).toThrow(/REDIS_URL/);
  expect(() => loadConfig({ DB_NAME: 'bad-name;drop' })).toThrow(/DB_NAME/);
});

test('production refuses development defaults for secrets', () => {
  expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/must be set in production/);
});

test('roles parse from --role or ROLE, and unknown roles are refused', () => {
  expect(parseRoles(['node', 'main', '--role', 'api,worker'], {})).toEqual(['api', 'worker']);
  expect(parseRoles(['node', 'main'], { ROLE: 'cron' })).toEqual(['cron']);
  expect(parseRoles(['node', 'main'], {})).toEqual(['api', 'worker', 'cron', 'simulator']);
  expect(() => parseRoles(['node', 'main', '--role', 'web'], {})).toThrow(/unknown role "web"/);
});

describe('TRUST_PROXY (issue 8, finding 4)', () => {
  test('defaults to loopback only; none trusts nobody', () => {
    expect(loadConfig({}).http.trustProxy).toEqual(['loopback']);
    expect(loadConfig({ TRUST_PROXY: 'none' }).http.trustProxy).toEqual([]);
  });
  test('accepts addresses, CIDR ranges and named ranges', () => {
    expect(parseTrustProxy('10.0.0.2, 172.18.0.0/16,fd00::/8, uniquelocal')).toEqual(['10.0.0.2', '172.18.0.0/16', 'fd00::/8', 'uniquelocal']);
  });
  test.each(['true', '*', '2', '10.0.0.0/33', 'proxy.internal', '10.0.0.1/8/2', ''])('refuses %j', (value) => {
    expect(parseTrustProxy(value)).toBeUndefined();
    expect(() => loadConfig({ TRUST_PROXY: value })).toThrow(/TRUST_PROXY/);
  });
});
