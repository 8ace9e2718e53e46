import type { Knex } from 'knex';
import type { AppContext } from '../context';
import { resetFailedCallbackEvent } from '../db/callbacks';
import { requeueCallbackJob } from './queue';

/**
 * Re-drive: failed → received in one transaction (with the caller's audit row), then a fresh job per
 * event. Only events this call actually moved are returned and queued. If Redis refuses, the events
 * are still `received` and the sweeper queues them.
 */
export async function redriveCallbackEvents(
  ctx: AppContext,
  tenantId: string,
  ids: string[],
  audit: (trx: Knex.Transaction, moved: string[]) => Promise<void>,
): Promise<string[]> {
  if (ids.length === 0) return [];
  const moved = await ctx.db.transaction(async (trx) => {
    const done: string[] = [];
    for (const id of ids) {
      if (await resetFailedCallbackEvent(trx, tenantId, id)) done.push(id);
    }
    if (done.length > 0) await audit(trx, done);
    return done;
  });
  for (const id of moved) {
    // Redis unreachable: stop here rather than wait once per event; the sweeper has the rest.
    if (!(await requeueWithin(ctx, id, 2000))) break;
  }
  return moved;
}

/** Requeue without letting an unreachable Redis hold the caller. */
export async function requeueWithin(ctx: AppContext, id: string, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      requeueCallbackJob(ctx, id),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('requeue timed out')), ms);
        timer.unref();
      }),
    ]);
    return true;
  } catch (err) {
    ctx.logger.warn({ err: (err as Error).message, id }, 'callback requeue failed; the sweeper will retry');
    return false;
  } finally {
    clearTimeout(timer);
  }
}
