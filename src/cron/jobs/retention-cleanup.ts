import type { AppContext } from '../../context';
import { deleteRunsBefore, failAbandonedRuns } from '../../db/cron-runs';
import { deleteFileRows, fileKeysPresent, filesDeletedBefore, markFilesDeleted } from '../../db/files';
import { redisKey } from '../../redis';
import type { CronJob } from '../job';

const BATCH = 1000;
const MAX_BATCHES = 50;

async function deleteInBatches(run: () => Promise<number>): Promise<number> {
  let total = 0;
  for (let i = 0; i < MAX_BATCHES; i++) {
    const n = await run();
    total += n;
    if (n < BATCH) break;
  }
  return total;
}

/**
 * Refresh tokens are kept until they expire even when revoked: presenting a revoked (rotated) token
 * must still be recognised as reuse and revoke its family; once expired it is useless either way.
 */
export async function purgeExpiredRefreshTokens(ctx: AppContext, now: Date): Promise<number> {
  return deleteInBatches(() => ctx.db('refresh_tokens').where('expires_at', '<', now).limit(BATCH).delete());
}

/** The callback replay guard only needs to outlive redeliveries (RETENTION_CALLBACK_KEYS_DAYS). */
export async function purgeCallbackEventKeys(ctx: AppContext, now: Date): Promise<number> {
  if (!(await ctx.db.schema.hasTable('callback_event_keys'))) return 0;
  const cutoff = new Date(now.getTime() - ctx.config.retention.callbackKeyDays * 86_400_000);
  return deleteInBatches(() => ctx.db('callback_event_keys').where('created_at', '<', cutoff).limit(BATCH).delete());
}

/**
 * The webhook delivery log keeps finished deliveries for RETENTION_WEBHOOK_DELIVERIES_DAYS; a delivery
 * still pending (retrying) is never purged, whatever its age.
 */
export async function purgeWebhookDeliveries(ctx: AppContext, now: Date): Promise<number> {
  const cutoff = new Date(now.getTime() - ctx.config.retention.webhookDeliveryDays * 86_400_000);
  return deleteInBatches(() =>
    ctx.db('webhook_deliveries').where('created_at', '<', cutoff).whereIn('status', ['succeeded', 'failed']).limit(BATCH).delete(),
  );
}

/**
 * Files: (1) rows deleted through the API more than a day ago lose their object (deleting the object
 * right away is best effort) and then the row; (2) objects under tenants/ with no files row at all,
 * older than ORPHAN_FILE_DAYS (an upload whose row insert failed), are removed. The age margin keeps
 * uploads that are still between "object stored" and "row inserted" safe.
 */
export async function cleanOrphanedFiles(ctx: AppContext, now: Date): Promise<{ purged_rows: number; orphan_objects: number }> {
  let purged = 0;
  for (let i = 0; i < MAX_BATCHES; i++) {
    const rows = await filesDeletedBefore(ctx.db, new Date(now.getTime() - 86_400_000), BATCH);
    for (const r of rows) await ctx.storage.delete(r.object_key);
    await deleteFileRows(ctx.db, rows.map((r) => r.id));
    purged += rows.length;
    if (rows.length < BATCH) break;
  }

  const cutoff = now.getTime() - ctx.config.retention.orphanFileDays * 86_400_000;
  let orphans = 0;
  let batch: string[] = [];
  const flush = async () => {
    const known = await fileKeysPresent(ctx.db, batch);
    for (const key of batch) {
      if (!known.has(key)) {
        await ctx.storage.delete(key);
        orphans++;
      }
    }
    batch = [];
  };
  for await (const obj of ctx.storage.list('tenants/')) {
    if (obj.lastModified.getTime() >= cutoff) continue;
    batch.push(obj.key);
    if (batch.length >= 500) await flush();
  }
  if (batch.length) await flush();
  return { purged_rows: purged, orphan_objects: orphans };
}

/**
 * Rows whose object disappeared (deleted outside the platform) are marked deleted so the API stops
 * offering them. Checks `limit` rows per run, resuming from a cursor in Redis, so every row is
 * revisited over successive runs without one run statting the whole table.
 */
export async function markFilesWithMissingObjects(ctx: AppContext, limit = 500): Promise<number> {
  const cursorKey = redisKey(ctx.config.redis.prefix, 'cron', 'files-audit-cursor');
  const after = await ctx.redis.get(cursorKey);
  const q = ctx.db('files').whereNull('deleted_at').orderBy('id').limit(limit).select('id', 'object_key');
  if (after) q.where('id', '>', after);
  const rows: Array<{ id: string; object_key: string }> = await q;
  const missing: string[] = [];
  for (const r of rows) if (!(await ctx.storage.stat(r.object_key))) missing.push(r.id);
  await markFilesDeleted(ctx.db, missing);
  if (rows.length < limit) await ctx.redis.del(cursorKey);
  else await ctx.redis.set(cursorKey, rows[rows.length - 1].id);
  return missing.length;
}

/** Job history is kept for CRON_HISTORY_DAYS; runs still `running` after a day belonged to a process that died. */
const CRON_HISTORY_DAYS = 30;

export async function trimCronHistory(ctx: AppContext, now: Date): Promise<{ cron_runs_deleted: number; cron_runs_abandoned: number }> {
  const abandoned = await failAbandonedRuns(ctx.db, new Date(now.getTime() - 86_400_000));
  const cutoff = new Date(now.getTime() - CRON_HISTORY_DAYS * 86_400_000);
  const deleted = await deleteInBatches(() => deleteRunsBefore(ctx.db, cutoff, BATCH));
  return { cron_runs_deleted: deleted, cron_runs_abandoned: abandoned };
}

export const retentionCleanupJob: CronJob = {
  name: 'retention-cleanup',
  schedule: '0 45 3 * * *',
  lockTtlMs: 30 * 60_000,
  async run(ctx, now) {
    return {
      refresh_tokens: await purgeExpiredRefreshTokens(ctx, now),
      callback_event_keys: await purgeCallbackEventKeys(ctx, now),
      webhook_deliveries: await purgeWebhookDeliveries(ctx, now),
      files_missing_objects: await markFilesWithMissingObjects(ctx),
      ...(await cleanOrphanedFiles(ctx, now)),
      ...(await trimCronHistory(ctx, now)),
    };
  },
};
