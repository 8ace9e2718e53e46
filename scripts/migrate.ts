import 'dotenv/config';
import { loadConfig } from '../src/config';
import { createKnex, ensureDatabase } from '../src/db/knex';
import { migrateLatest, rollbackLast } from '../src/db/migrator';
import { maintainAllPartitions } from '../src/db/partitions';

/** `migrate latest` creates the database if needed, migrates and creates the monthly partitions; `migrate rollback` undoes the last batch. */
async function main(): Promise<void> {
  const config = loadConfig();
  const command = process.argv[2] ?? 'latest';
  await ensureDatabase(config.db);
  const db = createKnex(config.db, { poolMax: 2 });
  try {
    if (command === 'latest') {
      const applied = await migrateLatest(db);
      const parts = await maintainAllPartitions(db, { monthsAhead: config.partitions.monthsAhead });
      const created = parts.flatMap((p) => p.created.map((c) => `${p.table}.${c}`));
      console.log(`[migrate] ${applied.length ? `applied ${applied.join(', ')}` : 'schema up to date'}; partitions created: ${created.length}`);
    } else if (command === 'rollback') {
      console.log(`[migrate] rolled back ${(await rollbackLast(db)).join(', ') || 'nothing'}`);
    } else {
      throw new Error(`unknown command ${command} (latest, rollback)`);
    }
  } finally {
    await db.destroy();
  }
}

main().catch((err) => {
  console.error(`[migrate] ${err.message}`);
  process.exit(1);
});
