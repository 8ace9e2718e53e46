import 'dotenv/config';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/config';
import { createKnex, dropDatabase, ensureDatabase } from '../src/db/knex';
import { migrateLatest } from '../src/db/migrator';
import { dumpSchema } from '../src/db/schema-dump';

/** Regenerates sql/schema.sql from a scratch database built by the migrations alone. */
async function main(): Promise<void> {
  const base = loadConfig();
  const db = { ...base.db, database: `${base.db.database}_schema_dump` };
  await dropDatabase(db);
  await ensureDatabase(db);
  const knex = createKnex(db, { poolMax: 1 });
  try {
    await migrateLatest(knex);
    const out = join(__dirname, '..', 'sql', 'schema.sql');
    writeFileSync(out, await dumpSchema(knex));
    console.log(`[schema] wrote ${out}`);
  } finally {
    await knex.destroy();
    await dropDatabase(db);
  }
}

main().catch((err) => {
  console.error(`[schema] ${err.message}`);
  process.exit(1);
});
