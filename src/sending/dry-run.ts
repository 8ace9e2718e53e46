import type { AppContext } from '../context';
import type { TaskRow } from '../db/tasks';
import { compileTemplate, type VariableDefinition, type VariableValues } from '../domain/template-render';
import { previewAudience, type AudienceInput, type AudiencePreview } from './audience';
import { accountFor, readTargets, retryableFailures, type SourceRecord } from './targets';

/**
 * A task's dry run: who it would reach (the audience count, as expansion counts) and the first messages
 * as expansion would render them, each with the account that would send it. Reads only: nothing is
 * written, no task or message row, no counter, no Redis key.
 */
export interface DryRunInput extends Omit<AudienceInput, 'target_type'> {
  target_type: AudienceInput['target_type'] | 'retry';
  tenant_id: string;
  content: Record<string, unknown>;
  definitions: VariableDefinition[];
  variables: VariableValues;
  /** A retry task's targets are the failed messages of another task (`retry_of`). */
  retry_of?: string | null;
  target_config: Record<string, unknown>;
}

export interface RenderedSample {
  conversation_id: string;
  account_id: string;
  content: Record<string, unknown> | null;
  /** Why this target would not become a message (a missing variable, a foreign account). */
  error: string | null;
}

export interface DryRun {
  audience: Omit<AudiencePreview, 'target_type'> & { target_type: DryRunInput['target_type'] };
  samples: RenderedSample[];
}

export const DRY_RUN_SAMPLES = 5;

export async function dryRun(ctx: Pick<AppContext, 'db' | 'storage'>, input: DryRunInput, sampleSize = DRY_RUN_SAMPLES): Promise<DryRun> {
  const audience =
    input.target_type === 'retry'
      ? await retryAudience(ctx, input)
      : await previewAudience(ctx, input.tenant_id, {
          target_type: input.target_type,
          account_ids: input.account_ids,
          targets: input.targets,
          file_id: input.file_id,
          filter: input.filter,
        });
  return { audience, samples: await renderSamples(ctx, input, sampleSize) };
}

/** The first targets rendered exactly as expansion renders them (the same target reader and template). */
async function renderSamples(ctx: Pick<AppContext, 'db' | 'storage'>, input: DryRunInput, n: number): Promise<RenderedSample[]> {
  const template = compileTemplate(input.content, input.definitions);
  const pseudoTask = {
    id: '',
    tenant_id: input.tenant_id,
    target_type: input.target_type,
    target_config: input.target_config,
    account_ids: input.account_ids,
    retry_of: input.retry_of ?? null,
  } as unknown as TaskRow;
  const out: RenderedSample[] = [];
  const records = readTargets(ctx, pseudoTask, 0) as AsyncGenerator<SourceRecord>;
  try {
    for await (const rec of records) {
      if (out.length >= n) break;
      if (rec.problem) continue;
      const t = rec.target;
      const accountId = t.accountId ?? accountFor(t.conversationId, input.account_ids);
      if (!input.account_ids.includes(accountId)) {
        out.push({ conversation_id: t.conversationId, account_id: accountId, content: null, error: `account ${accountId} is not a sending account of this task` });
        continue;
      }
      try {
        const content = t.content ?? (template.render(input.variables, t.variables ?? {}) as Record<string, unknown>);
        out.push({ conversation_id: t.conversationId, account_id: accountId, content, error: null });
      } catch (err) {
        out.push({ conversation_id: t.conversationId, account_id: accountId, content: null, error: (err as Error).message });
      }
    }
  } finally {
    // Ends the reader early (closes an import file's stream).
    await records.return(undefined);
  }
  return out;
}

async function retryAudience(ctx: Pick<AppContext, 'db'>, input: DryRunInput): Promise<DryRun['audience']> {
  const row = await ctx
    .db('messages')
    .where({ tenant_id: input.tenant_id, batch_id: input.retry_of ?? '', status: 'failed' })
    .modify((q) => retryableFailures(q, Boolean(input.target_config.include_permanent)))
    .count({ n: '*' })
    .first();
  return { target_type: 'retry', count: Number(row?.n ?? 0), duplicates: 0, problem_count: 0, problems: [], sample: [] };
}
