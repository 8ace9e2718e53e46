import { ConfigError, loadConfig, parseTrustProxy, PUBLISHED_SECRET_DEFAULTS } from '../../src/config';
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

describe('production refuses the published development secrets even when set explicitly', () => {
  const production = {
    NODE_ENV: 'production',
    DB_HOST: 'db',
    DB_PASSWORD: 'db-password-of-our-own',
    REDIS_URL: 'redis://redis:6379',
    JWT_SECRET: 'a-jwt-secret-of-our-own-0123456789',
    PLATFORM_ADMIN_PASSWORD: 'an admin password of our own',
    GATEWAY_API_KEY: 'a-gateway-key-of-our-own',
    GATEWAY_CALLBACK_SECRET: 'a-callback-secret-of-our-own',
    PUBLIC_URL: 'https://wwp.example.test',
    CHANNEL_SECRET_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
  };
  test('own secrets load', () => {
    expect(loadConfig(production).env).toBe('production');
  });
  test.each(Object.entries(PUBLISHED_SECRET_DEFAULTS).flatMap(([name, values]) => values.map((value) => [name, value])))('%s=%s is refused', (name, value) => {
    expect(() => loadConfig({ ...production, [name]: value })).toThrow(new RegExp(`${name}: is the published development value`));
  });
  test('the documented defaults are all covered', () => {
    expect(PUBLISHED_SECRET_DEFAULTS.JWT_SECRET).toContain(loadConfig({}).auth.jwtSecret);
    expect(PUBLISHED_SECRET_DEFAULTS.PLATFORM_ADMIN_PASSWORD).toContain(loadConfig({}).auth.platformAdmin.password);
    expect(PUBLISHED_SECRET_DEFAULTS.GATEWAY_API_KEY).toContain(loadConfig({}).gateway.apiKey);
    expect(PUBLISHED_SECRET_DEFAULTS.GATEWAY_CALLBACK_SECRET).toContain(loadConfig({}).gateway.callbackSecret);
    expect(PUBLISHED_SECRET_DEFAULTS.WECHATY_GATEWAY_API_KEY).toContain(loadConfig({}).wechaty.apiKey);
  });
});

test('roles parse from --role or ROLE, and unknown roles are refused', () => {
  expect(parseRoles(['node', 'main', '--role', 'api,worker'], {})).toEqual(['api', 'worker']);
  expect(parseRoles(['node', 'main'], { ROLE: 'cron' })).toEqual(['cron']);
  expect(parseRoles(['node', 'main'], {})).toEqual(['api', 'worker', 'cron', 'simulator', 'gateway-wechaty']);
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
