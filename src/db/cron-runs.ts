import type { Knex } from 'knex';
import { parseJson, toJson } from './json';
import { paginate, type Page, type PageQuery } from '../api/pagination';

/** Job history rows (platform-wide). */
export type CronOutcome = 'running' | 'success' | 'failed' | 'skipped';

export interface CronRunRow {
  id: number;
  job_name: string;
  tick_at: Date;
  started_at: Date;
  finished_at: Date | null;
  duration_ms: number | null;
  outcome: CronOutcome;
  result: Record<string, unknown> | null;
  error: string | null;
  host: string | null;
  created_at: Date;
}

const MAX_ERROR = 4000;

export async function insertRunningRun(db: Knex, run: { jobName: string; tickAt: Date; startedAt: Date; host: string }): Promise<number> {
  const [id] = await db('cron_job_runs').insert({
    job_name: run.jobName,
    tick_at: run.tickAt,
    started_at: run.startedAt,
    outcome: 'running',
    host: run.host,
    created_at: run.startedAt,
  });
  return Number(id);
}

export async function finishRun(
  db: Knex,
  id: number,
  end: { finishedAt: Date; durationMs: number; outcome: 'success' | 'failed'; result?: unknown; error?: string },
): Promise<void> {
  await db('cron_job_runs')
    .where({ id })
    .update({
      finished_at: end.finishedAt,
      duration_ms: end.durationMs,
      outcome: end.outcome,
      result: toJson(end.result),
      error: end.error ? end.error.slice(0, MAX_ERROR) : null,
    });
}

export async function insertSkippedRun(db: Knex, run: { jobName: string; tickAt: Date; at: Date; host: string; reason: string }): Promise<void> {
  await db('cron_job_runs').insert({
    job_name: run.jobName,
    tick_at: run.tickAt,
    started_at: run.at,
    finished_at: run.at,
    duration_ms: 0,
    outcome: 'skipped',
    result: toJson({ reason: run.reason }),
    host: run.host,
    created_at: run.at,
  });
}

function hydrate(row: Record<string, unknown>): CronRunRow {
  return { ...(row as unknown as CronRunRow), id: Number(row.id), result: parseJson(row.result, null) };
}

/** The latest run of each named job (one indexed lookup per job; the registry is small). */
export async function lastRuns(db: Knex, jobNames: string[]): Promise<Map<string, CronRunRow>> {
  const out = new Map<string, CronRunRow>();
  await Promise.all(
    jobNames.map(async (name) => {
      const row = await db('cron_job_runs').where({ job_name: name }).orderBy('started_at', 'desc').orderBy('id', 'desc').first();
      if (row) out.set(name, hydrate(row));
    }),
  );
  return out;
}

export async function lastSuccessAt(db: Knex, jobName: string): Promise<Date | null> {
  const row = await db('cron_job_runs').where({ job_name: jobName, outcome: 'success' }).orderBy('started_at', 'desc').first('started_at');
  return row ? (row.started_at as Date) : null;
}

export async function listRuns(db: Knex, page: PageQuery, filter: { job?: string; outcome?: CronOutcome }): Promise<Page<CronRunRow>> {
  const q = db('cron_job_runs').select('*');
  if (filter.job) q.where('job_name', filter.job);
  if (filter.outcome) q.where('outcome', filter.outcome);
  const result = await paginate<CronRunRow>(q, page, 'cron_job_runs');
  return { ...result, data: result.data.map((r) => hydrate(r as unknown as Record<string, unknown>)) };
}

/** Runs left `running` by a process that died mid-run become failed, so history does not show them running forever. */
export async function failAbandonedRuns(db: Knex, startedBefore: Date): Promise<number> {
  return db('cron_job_runs')
    .where('outcome', 'running')
    .where('started_at', '<', startedBefore)
    .update({ outcome: 'failed', error: 'the cron process ended before the run finished', finished_at: db.fn.now(3) });
}

export async function deleteRunsBefore(db: Knex, before: Date, limit: number): Promise<number> {
  return db('cron_job_runs').where('created_at', '<', before).orderBy('created_at').limit(limit).delete();
}
