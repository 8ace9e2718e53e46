import type { Readable } from 'node:stream';
import type { AppContext } from '../context';
import { KeySet } from '../domain/key-set';
import { NotFoundError, UnprocessableError } from '../errors';
import { conversationAudience, CsvHeaderError, parseTargetCsv, type FilterTargetConfig, type ManualTargetConfig, type SourceRecord, type TargetProblem } from './targets';

/**
 * The recipients a task would have, counted before it is created (the campaign wizard's "N recipients"
 * and the CSV bad-row report). Counts follow expansion's rules: repeated conversations count once
 * (per account for group and filter audiences), malformed rows and foreign accounts are problems.
 */
export interface AudienceInput {
  target_type: 'manual' | 'import' | 'group' | 'filter';
  account_ids: string[];
  targets?: ManualTargetConfig['targets'];
  file_id?: string;
  filter?: FilterTargetConfig;
}

export interface AudiencePreview {
  target_type: AudienceInput['target_type'];
  /** Distinct recipients the task would send to. */
  count: number;
  duplicates: number;
  problem_count: number;
  /** The first problems (line for CSV rows, index for manual targets). */
  problems: TargetProblem[];
  /** The first recipients' conversation ids. */
  sample: string[];
}

const MAX_PROBLEMS = 50;
const SAMPLE = 10;

export async function previewAudience(ctx: Pick<AppContext, 'db' | 'storage'>, tenantId: string, input: AudienceInput): Promise<AudiencePreview> {
  if (input.target_type === 'group' || input.target_type === 'filter') {
    const filter: FilterTargetConfig = input.target_type === 'group' ? { conversation_type: 'group' } : (input.filter ?? {});
    const row = await conversationAudience(ctx.db, tenantId, input.account_ids, filter).count({ n: '*' }).first();
    const sample: string[] = await conversationAudience(ctx.db, tenantId, input.account_ids, filter).orderBy('id').limit(SAMPLE).pluck('conversation_id');
    return { target_type: input.target_type, count: Number(row?.n ?? 0), duplicates: 0, problem_count: 0, problems: [], sample };
  }
  if (input.target_type === 'manual') return tally(input, manualRecords(input.targets ?? []));
  const file = await ctx.db('files').select('object_key').where({ id: input.file_id, tenant_id: tenantId }).whereNull('deleted_at').first();
  if (!file) throw new NotFoundError('file', input.file_id ?? '');
  const stream: Readable = await ctx.storage.get(file.object_key);
  try {
    return await tally(input, parseTargetCsv(stream));
  } catch (err) {
    if (err instanceof CsvHeaderError) throw new UnprocessableError('bad_csv_header', err.message, { file_id: input.file_id });
    throw err;
  } finally {
    stream.destroy();
  }
}

function* manualRecords(targets: NonNullable<AudienceInput['targets']>): Generator<SourceRecord> {
  for (const t of targets) yield { target: { conversationId: t.conversation_id, accountId: t.account_id, variables: t.variables ?? {} } };
}

async function tally(input: AudienceInput, records: Iterable<SourceRecord> | AsyncIterable<SourceRecord>): Promise<AudiencePreview> {
  const seen = new KeySet();
  const out: AudiencePreview = { target_type: input.target_type, count: 0, duplicates: 0, problem_count: 0, problems: [], sample: [] };
  const problem = (p: TargetProblem) => {
    out.problem_count += 1;
    if (out.problems.length < MAX_PROBLEMS) out.problems.push(p);
  };
  let index = 0;
  for await (const rec of records) {
    const at = index++;
    if (rec.problem) {
      problem(rec.problem.line !== undefined ? rec.problem : { ...rec.problem, index: at });
      continue;
    }
    const t = rec.target;
    if (t.accountId && !input.account_ids.includes(t.accountId)) {
      problem({ index: at, error: `account ${t.accountId} is not a sending account of this task` });
      continue;
    }
    if (!seen.add(t.conversationId)) {
      out.duplicates += 1;
      continue;
    }
    out.count += 1;
    if (out.sample.length < SAMPLE) out.sample.push(t.conversationId);
  }
  return out;
}
