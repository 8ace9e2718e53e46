import { randomBytes } from 'node:crypto';
import { signAccessToken } from '../../src/auth/access-tokens';
import { hashPassword } from '../../src/auth/passwords';
import { loadConfig, type Config } from '../../src/config';
import { createAppContext, type AppContext } from '../../src/context';
import { dropDatabase, ensureDatabase } from '../../src/db/knex';
import { prepareDatabase } from '../../src/db/migrator';
import { assignRole } from '../../src/db/roles';
import { insertTenant } from '../../src/db/tenants';
import { insertUser } from '../../src/db/users';
import { deleteRedisPrefix } from '../../scripts/lib/redis-prefix';
import { startApiServer, type RunningApi } from '../../src/server';
import { assertServicesAllowed } from './services';

/**
 * Each test file gets its own MariaDB database and its own Redis key prefix, so files run in parallel
 * against the real servers without seeing each other.
 */
export interface TestEnv {
  config: Config;
  ctx: AppContext;
  api?: RunningApi;
  /** Base URL of the API when started with `api: true`. */
  url: string;
  close(): Promise<void>;
}

export function uniqueName(label: string): string {
  return `${label.replace(/[^a-z0-9]/gi, '').slice(0, 20).toLowerCase()}_${randomBytes(4).toString('hex')}`;
}

export function testConfig(label: string, overrides: Record<string, string> = {}): Config {
  const name = uniqueName(label);
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DB_NAME: `wwpt_${name}`,
    DB_POOL_MAX: '10',
    REDIS_PREFIX: `{wwpt-${name}}`,
    PASSWORD_HASH_MEMORY_KIB: '1024',
    PASSWORD_HASH_TIME_COST: '1',
    FILES_DIR: `/tmp/wwp-test-files/${name}`,
    // `npm run test:cluster` runs files against a Redis Cluster with hash-tag shards (scripts/test-cluster.sh).
    ...pick(process.env, ['REDIS_CLUSTER_NODES', 'REDIS_SHARDS']),
    ...overrides,
  });
}

function pick(source: NodeJS.ProcessEnv, names: string[]): Record<string, string> {
  return Object.fromEntries(names.filter((n) => source[n]).map((n) => [n, source[n] as string]));
}

export async function createTestEnv(label: string, opts: { api?: boolean; env?: Record<string, string> } = {}): Promise<TestEnv> {
  assertServicesAllowed('createTestEnv');
  const config = testConfig(label, opts.env);
  await ensureDatabase(config.db);
  const ctx = createAppContext(config);
  await prepareDatabase(ctx.db, config.partitions.monthsAhead);
  const api = opts.api ? await startApiServer(ctx, 0, '127.0.0.1') : undefined;
  return {
    config,
    ctx,
    api,
    url: api?.url ?? '',
    async close() {
      await api?.close();
      await ctx.close();
      await dropDatabase(config.db);
      await deleteRedisPrefix(config.redis);
    },
  };
}

export { deleteRedisPrefix };

export interface TestTenant {
  tenantId: string;
  adminId: string;
  adminToken: string;
  username: string;
  password: string;
  roleIds: Record<string, string>;
}

/** Creates a tenant with its built-in roles and an admin operator; returns a ready access token. */
export async function createTenant(
  env: TestEnv,
  opts: { code?: string; maxAccounts?: number; maxDailyMessages?: number; timezone?: string } = {},
): Promise<TestTenant> {
  const code = opts.code ?? uniqueName('t');
  const password = 'correct horse battery';
  const passwordHash = await hashPassword(env.config.auth, password);
  return env.ctx.db.transaction(async (trx) => {
    const { id: tenantId, roleIds } = await insertTenant(trx, {
      tenantCode: code,
      tenantName: `Tenant ${code}`,
      maxAccounts: opts.maxAccounts,
      maxDailyMessages: opts.maxDailyMessages,
      timezone: opts.timezone,
    });
    const username = `admin_${code}`.slice(0, 50);
    const adminId = await insertUser(trx, { tenantId, username, email: `${username}@example.test`, passwordHash });
    await assignRole(trx, adminId, roleIds.admin, adminId);
    const adminToken = signAccessToken(env.config.auth, { sub: adminId, tid: tenantId, kind: 'user' });
    return { tenantId, adminId, adminToken, username, password, roleIds };
  });
}

/** Creates an operator with the given built-in role and returns its access token. */
export async function createUserWithRole(env: TestEnv, tenant: TestTenant, role: 'admin' | 'operator' | 'viewer'): Promise<{ userId: string; token: string }> {
  const username = uniqueName(role);
  const userId = await insertUser(env.ctx.db, {
    tenantId: tenant.tenantId,
    username,
    email: `${username}@example.test`,
    passwordHash: await hashPassword(env.config.auth, 'correct horse battery'),
  });
  await assignRole(env.ctx.db, userId, tenant.roleIds[role], tenant.adminId);
  return { userId, token: signAccessToken(env.config.auth, { sub: userId, tid: tenant.tenantId, kind: 'user' }) };
}
