import { createKnex, dropDatabase, ensureDatabase } from '../../src/db/knex';
import { migrateLatest } from '../../src/db/migrator';
import { PARTITIONED_TABLES, listPartitions, maintainAllPartitions, maintainPartitions, monthPartition, partitionClause, partitionRange } from '../../src/db/partitions';
import { testConfig } from '../helpers/env';

const config = testConfig('partitions');
const db = createKnex(config.db, { poolMax: 2 });
const spec = { table: 'callback_events', column: 'received_time', retentionMonths: 3 };

beforeAll(async () => {
  await ensureDatabase(config.db);
  await migrateLatest(db);
});
afterAll(async () => {
  await db.destroy();
  await dropDatabase(config.db);
});

const names = async (table: string) => (await listPartitions(db, table)).map((p) => p.name);

/** Each test starts from the migrated shape: every partitioned table empty, with only its catch-all partition. */
beforeEach(async () => {
  for (const t of PARTITIONED_TABLES) {
    await db(t.table).delete();
    await db.raw(`ALTER TABLE \`${t.table}\` ${partitionClause(t.column, [])}`);
  }
});

async function insertEvent(id: string, at: string): Promise<void> {
  await db('callback_events').insert({ id, guid: 'g', notify_type: 1, event_type: 'x', raw_data: '{}', received_time: new Date(at) });
}

test('month partitions are named by month and bounded by the first day of the next month', () => {
  expect(monthPartition(new Date('2026-12-15T10:00:00Z'))).toEqual({ name: 'p202612', lessThan: '2027-01-01', month: '202612' });
  expect(partitionRange(new Date('2026-11-30T23:59:59Z'), 1, 2).map((p) => p.name)).toEqual(['p202610', 'p202611', 'p202612', 'p202701']);
});

test('creates partitions ahead, is idempotent, and routes rows to their month', async () => {
  const now = new Date('2026-01-10T00:00:00Z');
  const first = await maintainPartitions(db, spec, { now, monthsAhead: 2 });
  expect(first.created).toEqual(['p202601', 'p202602', 'p202603']);
  expect(await names('callback_events')).toEqual(['p202601', 'p202602', 'p202603', 'p_max']);

  const again = await maintainPartitions(db, spec, { now, monthsAhead: 2 });
  expect(again).toEqual({ table: 'callback_events', created: [], dropped: [] });

  // Rows before the first month land in it; rows far ahead land in p_max (never an insert failure).
  await insertEvent('old', '2025-06-01T00:00:00Z');
  await insertEvent('jan', '2026-01-31T23:59:59Z');
  await insertEvent('feb', '2026-02-01T00:00:00Z');
  await insertEvent('far', '2031-01-01T00:00:00Z');
  const byPartition = async (p: string) => (await db.raw(`SELECT id FROM callback_events PARTITION (${p}) ORDER BY id`))[0].map((r: { id: string }) => r.id);
  expect(await byPartition('p202601')).toEqual(['jan', 'old']);
  expect(await byPartition('p202602')).toEqual(['feb']);
  expect(await byPartition('p_max')).toEqual(['far']);
});

test('a later run adds the new months and drops the partitions past retention', async () => {
  // Maintained in January (p202601 … p202603), with rows in January, February and far ahead.
  await maintainPartitions(db, spec, { now: new Date('2026-01-10T00:00:00Z'), monthsAhead: 2 });
  await insertEvent('jan', '2026-01-31T23:59:59Z');
  await insertEvent('feb', '2026-02-01T00:00:00Z');
  await insertEvent('far', '2031-01-01T00:00:00Z');
  const now = new Date('2026-06-05T00:00:00Z');
  const result = await maintainPartitions(db, spec, { now, monthsAhead: 1 });
  expect(result.created).toEqual(['p202604', 'p202605', 'p202606', 'p202607']);
  // Retention 3 months from June keeps March onward; January and February go, with their rows.
  expect(result.dropped).toEqual(['p202601', 'p202602']);
  expect(await names('callback_events')).toEqual(['p202603', 'p202604', 'p202605', 'p202606', 'p202607', 'p_max']);
  const left = (await db('callback_events').select('id').orderBy('id')).map((r) => r.id);
  expect(left).toEqual(['far']);
});

test('a partition holding a time still being written (the start of a started task) is not dropped with the rest', async () => {
  await maintainPartitions(db, spec, { now: new Date('2026-01-10T00:00:00Z'), monthsAhead: 2 });
  await insertEvent('jan', '2026-01-15T00:00:00Z');
  await insertEvent('feb', '2026-02-10T00:00:00Z');
  const now = new Date('2026-06-05T00:00:00Z');
  // Rows are still written with Feb 3 (before it lies only January): February stays, January goes.
  const kept = await maintainPartitions(db, spec, { now, monthsAhead: 1, keepTimes: [new Date('2026-02-03T00:00:00Z')] });
  expect(kept.dropped).toEqual(['p202601']);
  expect(await names('callback_events')).toEqual(['p202602', 'p202603', 'p202604', 'p202605', 'p202606', 'p202607', 'p_max']);
  expect((await db('callback_events').pluck('id')).sort()).toEqual(['feb']);
  // A time before the first partition is written into the first one: it stays.
  await insertEvent('older', '2025-12-01T00:00:00Z');
  expect((await maintainPartitions(db, spec, { now, monthsAhead: 1, keepTimes: [new Date('2025-11-20T00:00:00Z')] })).dropped).toEqual([]);
  // Once nothing writes there, the next run drops it.
  expect((await maintainPartitions(db, spec, { now, monthsAhead: 1 })).dropped).toEqual(['p202602']);
  expect(await db('callback_events').pluck('id')).toEqual([]);
});

test('maintainAllPartitions covers every partitioned table', async () => {
  const results = await maintainAllPartitions(db, { now: new Date('2026-06-05T00:00:00Z'), monthsAhead: 1 });
  expect(results.map((r) => r.table).sort()).toEqual(['account_status_history', 'audit_logs', 'callback_events', 'messages']);
  for (const table of ['messages', 'account_status_history', 'audit_logs']) {
    expect(await names(table)).toEqual(['p202606', 'p202607', 'p_max']);
  }
});
