import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_VARIABLES, PRODUCTION_REQUIRED, loadConfig } from '../../src/config';
import { appServices, databaseService, interpolate, loadCompose, resolvedEnvironment, throwawaySecrets } from '../deploy/compose';

/**
 * docker-compose.yml cannot run here (no Docker engine), so check what can be checked statically.
 * (compose-engine.test.ts compares its database with the one the suite runs on;
 * test/deploy/docker-replay.test.ts runs the app services from a replayed image build.)
 */
const compose = loadCompose();
const APP_SERVICES = appServices(compose);
const secrets = throwawaySecrets();
const db = databaseService(compose);

test('the app services are the roles and the one-shot migration', () => {
  expect(APP_SERVICES).toEqual(expect.arrayContaining(['api', 'worker', 'cron', 'simulator', 'gateway-wechaty', 'migrate']));
});

test.each(APP_SERVICES)('service %s gets every variable production config requires, and the config loads', (name) => {
  const env = compose.services[name].environment ?? {};
  for (const required of PRODUCTION_REQUIRED) expect(Object.keys(env)).toContain(required);
  const config = loadConfig(resolvedEnvironment(compose.services[name], secrets));
  expect(config.env).toBe('production');
  expect(config.db.host).toBe(db.name);
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
  expect(() => interpolate(String(env.DB_PASSWORD), {})).toThrow(/MARIADB_PASSWORD/);
});

test('the app connects as the database user the database service creates, to the database it creates', () => {
  const dbEnv = resolvedEnvironment(db.service, secrets);
  const appEnv = resolvedEnvironment(compose.services.api, secrets);
  expect(appEnv.DB_USER).toBe(dbEnv.MARIADB_USER);
  expect(appEnv.DB_PASSWORD).toBe(dbEnv.MARIADB_PASSWORD);
  expect(appEnv.DB_NAME).toBe(dbEnv.MARIADB_DATABASE);
});

test('the database health check is the image’s own, waiting for InnoDB recovery, and the app waits for it', () => {
  expect(db.service.healthcheck?.test).toEqual(['CMD', 'healthcheck.sh', '--connect', '--innodb_initialized']);
  for (const name of APP_SERVICES) expect(compose.services[name].depends_on?.[db.name]).toEqual({ condition: 'service_healthy' });
});

test('the README names the engine compose runs', () => {
  expect(readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8')).toContain(`\`${db.service.image}\``);
});

test('infrastructure services are the required engines, with health checks and volumes', () => {
  expect(compose.services.redis.image).toMatch(/^redis:7/);
  expect(compose.services.influxdb.image).toMatch(/^influxdb:2/);
  expect(compose.services.minio.image).toMatch(/^minio\//);
  for (const name of [db.name, 'redis', 'influxdb', 'minio', 'api']) expect(compose.services[name].healthcheck).toBeDefined();
  for (const name of [db.name, 'redis', 'influxdb', 'minio']) {
    const volume = compose.services[name].volumes![0].split(':')[0];
    expect(Object.keys(compose.volumes)).toContain(volume);
  }
});
