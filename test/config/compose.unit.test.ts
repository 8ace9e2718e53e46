import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, PRODUCTION_REQUIRED, loadConfig } from '../../src/config';

/** docker-compose.yml cannot run here (no Docker engine), so check what can be checked statically. */
const compose = parse(readFileSync(join(__dirname, '..', '..', 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { environment?: Record<string, string>; healthcheck?: unknown; volumes?: string[]; image?: string; build?: string; command?: string[] }>;
  volumes: Record<string, unknown>;
};
const APP_SERVICES = ['api', 'worker', 'cron', 'simulator', 'migrate'];

/** Resolves ${VAR}, ${VAR:-default} and ${VAR:?message} the way compose does, with `given` as the shell env. */
function interpolate(value: string, given: Record<string, string>): string {
  return String(value).replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_m, name: string, op: string | undefined, arg: string) => {
    if (given[name]) return given[name];
    if (op === '?') throw new Error(`compose requires ${name}: ${arg}`);
    return op === '-' ? arg : '';
  });
}

const secrets = {
  MYSQL_PASSWORD: 'db-secret',
  MYSQL_ROOT_PASSWORD: 'root-secret',
  JWT_SECRET: 'a-long-production-jwt-secret',
  PLATFORM_ADMIN_PASSWORD: 'platform-secret',
  GATEWAY_CALLBACK_SECRET: 'callback-secret',
  INFLUX_TOKEN: 'influx-token',
  INFLUX_ADMIN_PASSWORD: 'influx-admin',
  MINIO_ROOT_PASSWORD: 'minio-secret',
  CHANNEL_SECRET_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
};

test.each(APP_SERVICES)('service %s gets every variable production config requires, and the config loads', (name) => {
  const env = compose.services[name].environment ?? {};
  for (const required of PRODUCTION_REQUIRED) expect(Object.keys(env)).toContain(required);
  const resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(String(v), secrets)]));
  const config = loadConfig(resolved);
  expect(config.env).toBe('production');
  expect(config.db.host).toBe('mysql');
  expect(config.minio?.endPoint).toBe('minio');
  expect(config.influx.url).toBe('http://influxdb:8086');
});

test('service environments name only variables the service reads', () => {
  const known = new Set<string>([...CONFIG_VARIABLES, 'ROLE']);
  for (const name of APP_SERVICES) {
    for (const key of Object.keys(compose.services[name].environment ?? {})) expect({ service: name, key, known: known.has(key) }).toEqual({ service: name, key, known: true });
  }
});

test('secrets have no defaults: a missing one stops compose', () => {
  const env = compose.services.api.environment ?? {};
  expect(() => interpolate(String(env.JWT_SECRET), {})).toThrow(/JWT_SECRET/);
});

test('infrastructure services are the required engines, with health checks and volumes', () => {
  expect(compose.services.mysql.image).toMatch(/^mysql:8/);
  expect(compose.services.redis.image).toMatch(/^redis:7/);
  expect(compose.services.influxdb.image).toMatch(/^influxdb:2/);
  expect(compose.services.minio.image).toMatch(/^minio\//);
  for (const name of ['mysql', 'redis', 'influxdb', 'minio', 'api']) expect(compose.services[name].healthcheck).toBeDefined();
  for (const name of ['mysql', 'redis', 'influxdb', 'minio']) {
    const volume = compose.services[name].volumes![0].split(':')[0];
    expect(Object.keys(compose.volumes)).toContain(volume);
  }
});
