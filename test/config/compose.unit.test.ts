import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_VARIABLES, PRODUCTION_REQUIRED, loadConfig } from '../../src/config';
import { deployedNodeFlags } from '../../scripts/lib/deployed-node-flags';
import { appServices, commandArgs, databaseService, interpolate, loadCompose, resolvedEnvironment, throwawaySecrets } from '../deploy/compose';

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
  // NODE_OPTIONS is read by node itself (the worker's heap limit).
  const known = new Set<string>([...CONFIG_VARIABLES, 'ROLE', 'NODE_OPTIONS']);
  for (const name of APP_SERVICES) {
    for (const key of Object.keys(compose.services[name].environment ?? {})) expect({ service: name, key, known: known.has(key) }).toEqual({ service: name, key, known: true });
  }
});

test.each(['worker', 'gateway-wechaty'])('%s runs with a heap limit (garbage piled up to 579 and 536 MB under V8\'s default), and its bench runs it with the same flags', (role) => {
  const flags = deployedNodeFlags(role);
  const limit = flags.find((f) => f.startsWith('--max-old-space-size='));
  expect(Number(limit?.split('=')[1])).toBeGreaterThanOrEqual(128);
  expect(Number(limit?.split('=')[1])).toBeLessThanOrEqual(384);
  expect(String(compose.services[role].environment?.NODE_OPTIONS)).toContain('--enable-source-maps');
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

describe('the cluster profile: a MariaDB read replica and a Redis Cluster', () => {
  const inProfile = (name: string) => compose.services[name]?.profiles ?? [];
  const option = (service: string, name: string) => commandArgs(compose.services[service]).find((a) => a.startsWith(`--${name}=`))?.split('=').slice(1).join('=');
  const replicaEnv = () => resolvedEnvironment(compose.services['mariadb-replica'], secrets);

  test('the replica replicates from the database service as the replication user the primary creates', () => {
    expect(inProfile('mariadb-replica')).toEqual(['cluster']);
    expect(compose.services['mariadb-replica'].image).toBe(db.service.image);
    const primaryEnv = resolvedEnvironment(db.service, secrets);
    expect(replicaEnv().MARIADB_MASTER_HOST).toBe(db.name);
    expect(replicaEnv().MARIADB_REPLICATION_USER).toBe(primaryEnv.MARIADB_REPLICATION_USER);
    expect(replicaEnv().MARIADB_REPLICATION_PASSWORD).toBe(primaryEnv.MARIADB_REPLICATION_PASSWORD);
    // The database and the app's user come by replication: creating them again on the replica would stop it.
    expect(replicaEnv().MARIADB_DATABASE).toBeUndefined();
    expect(replicaEnv().MARIADB_USER).toBeUndefined();
    expect(compose.services['mariadb-replica'].depends_on?.[db.name]).toEqual({ condition: 'service_healthy' });
  });

  test('the primary writes a binary log, the replica has its own server id, is read-only, and is healthy only while replicating', () => {
    expect(option(db.name, 'log-bin')).toBeTruthy();
    expect(option(db.name, 'binlog-format')).toBe('ROW');
    expect(option('mariadb-replica', 'server-id')).not.toBe(option(db.name, 'server-id'));
    expect(option('mariadb-replica', 'read-only')).toBe('ON');
    expect(compose.services['mariadb-replica'].healthcheck?.test).toEqual(expect.arrayContaining(['healthcheck.sh', '--replication_io', '--replication_sql']));
    expect(replicaEnv().MARIADB_HEALTHCHECK_GRANTS).toMatch(/REPLICA MONITOR/);
  });

  test('the replica runs the server options the code relies on, as the primary does', () => {
    for (const name of ['character-set-server', 'collation-server', 'default-time-zone', 'sql-mode', 'innodb-snapshot-isolation', 'max-connections']) {
      expect({ name, replica: option('mariadb-replica', name) }).toEqual({ name, replica: option(db.name, name) });
    }
  });

  test('the app user may read the replica lag (SLAVE MONITOR), granted by the init script the primary mounts', () => {
    const mount = db.service.volumes!.find((v) => v.split(':')[1] === '/docker-entrypoint-initdb.d');
    expect(mount).toBeDefined();
    const dir = join(__dirname, '..', '..', mount!.split(':')[0]);
    const grants = readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
    const appUser = resolvedEnvironment(compose.services.api, secrets).DB_USER;
    expect(grants).toContain(`GRANT SLAVE MONITOR ON *.* TO '${appUser}'@'%'`);
  });

  test('DB_READ_HOST=mariadb-replica points every app service at the replica with the primary credentials', () => {
    for (const name of APP_SERVICES) {
      expect(loadConfig(resolvedEnvironment(compose.services[name], secrets)).dbRead).toBeUndefined();
      const config = loadConfig(resolvedEnvironment(compose.services[name], { ...secrets, DB_READ_HOST: 'mariadb-replica' }));
      expect(config.dbRead).toMatchObject({ host: 'mariadb-replica', port: 3306, user: config.db.user, password: config.db.password, database: config.db.database });
    }
  });

  test('six Redis Cluster nodes, joined as 3 masters with a replica each by an idempotent one-shot', () => {
    const nodes = Object.keys(compose.services).filter((n) => /^redis-node-\d+$/.test(n));
    expect(nodes).toHaveLength(6);
    for (const name of nodes) {
      expect(inProfile(name)).toEqual(['cluster']);
      const args = commandArgs(compose.services[name]);
      expect(args.join(' ')).toContain('--cluster-enabled yes');
      expect(args.join(' ')).toContain(`--cluster-announce-hostname ${name}`);
      expect(args.join(' ')).toContain('--maxmemory-policy noeviction');
      expect(Object.keys(compose.volumes)).toContain(compose.services[name].volumes![0].split(':')[0]);
    }
    const init = compose.services['redis-cluster-init'];
    expect(inProfile('redis-cluster-init')).toEqual(['cluster']);
    const script = commandArgs(init).join(' ');
    expect(script).toMatch(/cluster_state:ok \|\| redis-cli --cluster create/);
    expect(script).toContain('--cluster-replicas 1');
    for (const name of nodes) {
      expect(script).toContain(`${name}:6379`);
      expect(init.depends_on?.[name]).toEqual({ condition: 'service_healthy' });
    }
  });

  test('REDIS_CLUSTER_NODES naming the six nodes (and REDIS_SHARDS) puts every app service on the cluster; unset, on `redis`', () => {
    const nodes = Object.keys(compose.services).filter((n) => /^redis-node-\d+$/.test(n));
    const given = { ...secrets, REDIS_CLUSTER_NODES: nodes.map((n) => `${n}:6379`).join(','), REDIS_SHARDS: '6' };
    for (const name of APP_SERVICES) {
      expect(loadConfig(resolvedEnvironment(compose.services[name], secrets)).redis).toMatchObject({ url: 'redis://redis:6379', clusterNodes: undefined, shards: 1 });
      const config = loadConfig(resolvedEnvironment(compose.services[name], given));
      expect(config.redis.clusterNodes).toEqual(nodes.map((host) => ({ host, port: 6379 })));
      expect(config.redis.shards).toBe(6);
    }
  });

  test('the default profile starts without the cluster profile: no service outside it depends on one inside', () => {
    const profiled = new Set(Object.keys(compose.services).filter((n) => inProfile(n).length > 0));
    for (const [name, service] of Object.entries(compose.services)) {
      if (profiled.has(name)) continue;
      for (const dep of Object.keys(service.depends_on ?? {})) expect({ name, dep, profiled: profiled.has(dep) }).toEqual({ name, dep, profiled: false });
    }
  });
});
