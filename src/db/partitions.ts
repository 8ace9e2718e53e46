import type { Knex } from 'knex';
import { monthPartitionEnd, partitionHoldsAny } from '../domain/plan-retention';

/**
 * Monthly RANGE partitioning on TO_DAYS(<time column>). Each table keeps one partition per month
 * (pYYYYMM, holding rows before the first day of the next month) plus a catch-all `p_max`, so an
 * insert never fails for lack of a partition; new months are split out of `p_max` while it is empty
 * (cheap), and expired months are dropped whole instead of DELETEd row by row.
 */
export interface PartitionedTable {
  table: string;
  column: string;
  /** Months of data to keep; partitions entirely older than this are dropped. */
  retentionMonths: number;
}

export const PARTITIONED_TABLES: readonly PartitionedTable[] = [
  { table: 'messages', column: 'created_at', retentionMonths: 12 },
  { table: 'callback_events', column: 'received_time', retentionMonths: 3 },
  { table: 'account_status_history', column: 'created_at', retentionMonths: 12 },
  { table: 'audit_logs', column: 'created_at', retentionMonths: 24 },
];

export interface MonthPartition {
  name: string;
  /** First day (UTC) of the month after this partition, i.e. its exclusive upper bound. */
  lessThan: string;
  month: string;
}

/** First day of the month `offset` months after `date`'s month, as YYYY-MM-DD (UTC). */
function monthStart(date: Date, offset: number): Date {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + offset, 1));
}

const ymd = (d: Date) => d.toISOString().slice(0, 10);

export function monthPartition(anyDayInMonth: Date): MonthPartition {
  const start = monthStart(anyDayInMonth, 0);
  const month = `${start.getUTCFullYear()}${String(start.getUTCMonth() + 1).padStart(2, '0')}`;
  return { name: `p${month}`, lessThan: ymd(monthStart(anyDayInMonth, 1)), month };
}

/** Partitions for `monthsBack` months before `now` through `monthsAhead` months after it. */
export function partitionRange(now: Date, monthsBack: number, monthsAhead: number): MonthPartition[] {
  const out: MonthPartition[] = [];
  for (let i = -monthsBack; i <= monthsAhead; i++) out.push(monthPartition(monthStart(now, i)));
  return out;
}

/** The PARTITION BY clause for CREATE TABLE. */
export function partitionClause(column: string, partitions: MonthPartition[]): string {
  const parts = partitions.map((p) => `  PARTITION ${p.name} VALUES LESS THAN (TO_DAYS('${p.lessThan}'))`);
  parts.push('  PARTITION p_max VALUES LESS THAN MAXVALUE');
  return `PARTITION BY RANGE (TO_DAYS(\`${column}\`)) (\n${parts.join(',\n')}\n)`;
}

interface ExistingPartition {
  name: string;
  description: string;
  rows: number;
}

export async function listPartitions(db: Knex, table: string): Promise<ExistingPartition[]> {
  const rows = await db('information_schema.PARTITIONS')
    .select({ name: 'PARTITION_NAME', description: 'PARTITION_DESCRIPTION', rows: 'TABLE_ROWS' })
    .where({ TABLE_SCHEMA: db.raw('DATABASE()'), TABLE_NAME: table })
    .whereNotNull('PARTITION_NAME')
    .orderBy('PARTITION_ORDINAL_POSITION');
  return rows as ExistingPartition[];
}

export interface MaintenanceResult {
  table: string;
  created: string[];
  dropped: string[];
}

/**
 * Makes sure monthly partitions exist up to `monthsAhead` months after `now`, and drops every monthly
 * partition whose whole range is older than `retentionMonths` before `now`. Safe to run repeatedly and
 * concurrently with writes; callers serialise runs across processes with a lock.
 */
export async function maintainPartitions(
  db: Knex,
  spec: PartitionedTable,
  opts: { now?: Date; monthsAhead: number; retentionMonths?: number; keepTimes?: Date[] },
): Promise<MaintenanceResult> {
  const now = opts.now ?? new Date();
  const retentionMonths = opts.retentionMonths ?? spec.retentionMonths;
  const existing = await listPartitions(db, spec.table);
  const result: MaintenanceResult = { table: spec.table, created: [], dropped: [] };

  // Continue from the month after the newest monthly partition, so months missed while maintenance
  // did not run get partitions of their own instead of being folded into a later one.
  const lastMonthly = existing.filter((p) => /^p\d{6}$/.test(p.name)).map((p) => p.name).sort().pop();
  const from = lastMonthly ? monthStart(new Date(Date.UTC(+lastMonthly.slice(1, 5), +lastMonthly.slice(5, 7) - 1, 1)), 1) : monthStart(now, 0);
  const wanted: MonthPartition[] = [];
  for (let m = from; m <= monthStart(now, opts.monthsAhead); m = monthStart(m, 1)) wanted.push(monthPartition(m));
  if (wanted.length > 0) {
    const defs = wanted.map((p) => `PARTITION ${p.name} VALUES LESS THAN (TO_DAYS('${p.lessThan}'))`);
    defs.push('PARTITION p_max VALUES LESS THAN MAXVALUE');
    await db.raw(`ALTER TABLE \`${spec.table}\` REORGANIZE PARTITION p_max INTO (${defs.join(', ')})`);
    result.created = wanted.map((p) => p.name);
  }

  // Keep the current month and the `retentionMonths` before it; a partition named for an older month holds only expired rows.
  // A partition holding one of `keepTimes` (rows still being written with that time) stays until the next run after.
  const oldestKept = monthPartition(monthStart(now, -retentionMonths)).name;
  const expired: string[] = [];
  let lowerBound: Date | null = null;
  for (const p of existing) {
    const end = monthPartitionEnd(p.name);
    if (!end) continue;
    if (p.name < oldestKept && !partitionHoldsAny(lowerBound, end, opts.keepTimes ?? [])) expired.push(p.name);
    lowerBound = end;
  }
  if (expired.length > 0) {
    await db.raw(`ALTER TABLE \`${spec.table}\` DROP PARTITION ${expired.join(', ')}`);
    result.dropped = expired;
  }
  return result;
}

export async function maintainAllPartitions(
  db: Knex,
  opts: { now?: Date; monthsAhead: number; retention?: Partial<Record<string, number>>; keepTimes?: Partial<Record<string, Date[]>> },
): Promise<MaintenanceResult[]> {
  const results: MaintenanceResult[] = [];
  for (const spec of PARTITIONED_TABLES) {
    results.push(
      await maintainPartitions(db, spec, {
        now: opts.now,
        monthsAhead: opts.monthsAhead,
        retentionMonths: opts.retention?.[spec.table],
        keepTimes: opts.keepTimes?.[spec.table],
      }),
    );
  }
  return results;
}
