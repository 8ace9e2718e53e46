import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createKnex, dropDatabase, ensureDatabase } from '../../src/db/knex';
import { migrateLatest, rollbackAll } from '../../src/db/migrator';
import { dumpSchema } from '../../src/db/schema-dump';
import { MIGRATIONS } from '../../migrations';
import { testConfig } from '../helpers/env';

const config = testConfig('migrations');
const db = createKnex(config.db, { poolMax: 2 });

beforeAll(() => ensureDatabase(config.db));
afterAll(async () => {
  await db.destroy();
  await dropDatabase(config.db);
});

async function tableNames(): Promise<string[]> {
  const [rows] = await db.raw("SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME NOT LIKE 'knex\\_%'");
  return (rows as Array<{ t: string }>).map((r) => r.t).sort();
}

test('migrations run forward, roll back to nothing, and forward again to the same schema', async () => {
  await rollbackAll(db); // from an empty database, whichever test of this file ran before
  expect(await tableNames()).toEqual([]);
  const applied = await migrateLatest(db);
  expect(applied).toEqual(MIGRATIONS.map(([name]) => name));
  const first = await dumpSchema(db);
  expect(await tableNames()).toEqual(
    expect.arrayContaining([
      'tenants', 'users', 'roles', 'user_roles', 'wework_accounts', 'account_status_history', 'conversations',
      'messages', 'message_templates', 'batch_send_tasks', 'callback_events', 'message_statistics',
      'api_keys', 'refresh_tokens', 'audit_logs',
    ]),
  );

  const rolled = await rollbackAll(db);
  expect(rolled.length).toBe(MIGRATIONS.length);
  expect(await tableNames()).toEqual([]);

  await migrateLatest(db);
  expect(await dumpSchema(db)).toBe(first);
});

test('sql/schema.sql is what the migrations produce (run `npm run schema:dump` when this fails)', async () => {
  await migrateLatest(db);
  const expected = readFileSync(join(__dirname, '..', '..', 'sql', 'schema.sql'), 'utf8');
  expect(await dumpSchema(db)).toBe(expected);
});

test('partitioned tables keep the partition column in every unique key and carry no foreign keys', async () => {
  await migrateLatest(db);
  const [rows] = await db.raw(
    `SELECT DISTINCT TABLE_NAME AS t, PARTITION_EXPRESSION AS expr FROM information_schema.PARTITIONS
     WHERE TABLE_SCHEMA = DATABASE() AND PARTITION_NAME IS NOT NULL`,
  );
  const partitioned = rows as Array<{ t: string; expr: string }>;
  expect(partitioned.map((r) => r.t).sort()).toEqual(['account_status_history', 'audit_logs', 'callback_events', 'messages']);
  for (const { t, expr } of partitioned) {
    const column = /`?(\w+)`?\)$/.exec(expr.replace(/\s/g, ''))![1];
    const [keys] = await db.raw(
      `SELECT INDEX_NAME AS k, GROUP_CONCAT(COLUMN_NAME) AS cols FROM information_schema.STATISTICS
       WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND NON_UNIQUE = 0 GROUP BY INDEX_NAME`,
      [t],
    );
    for (const key of keys as Array<{ k: string; cols: string }>) expect(key.cols.split(',')).toContain(column);
    const [fks] = await db.raw(
      `SELECT COUNT(*) AS n FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = ?`,
      [t],
    );
    expect(Number((fks as Array<{ n: number }>)[0].n)).toBe(0);
  }
});
