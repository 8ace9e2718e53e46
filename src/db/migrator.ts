import type { Knex } from 'knex';
import { MIGRATIONS } from '../../migrations';
import { maintainAllPartitions } from './partitions';

const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => MIGRATIONS.map(([name]) => name),
  getMigrationName: (name) => name,
  getMigration: async (name) => {
    const found = MIGRATIONS.find(([n]) => n === name);
    if (!found) throw new Error(`unknown migration ${name}`);
    return found[1];
  },
};

const migratorConfig: Knex.MigratorConfig = { migrationSource, tableName: 'knex_migrations' };

export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest(migratorConfig)) as [number, string[]];
  return applied;
}

export async function rollbackAll(db: Knex): Promise<string[]> {
  const [, rolled] = (await db.migrate.rollback(migratorConfig, true)) as [number, string[]];
  return rolled;
}

export async function rollbackLast(db: Knex): Promise<string[]> {
  const [, rolled] = (await db.migrate.rollback(migratorConfig)) as [number, string[]];
  return rolled;
}

/** Migrate, then make sure the partitioned tables have their monthly partitions. */
export async function prepareDatabase(db: Knex, monthsAhead: number): Promise<void> {
  await migrateLatest(db);
  await maintainAllPartitions(db, { monthsAhead, retention: {} });
}
