import type { AppContext } from '../context';
import { QUEUE } from '../queues/names';
import { accountPrefix, type ShardedPrefix } from '../redis-keyspace';

/** Payload of a message-send job: "look at this account's queue of messages". */
export interface AccountSliceJob {
  accountId: string;
  /** Finish the job with the result of the account's next run instead of at once (tests' barrier). */
  wait?: boolean;
}

export const SLICE_JOB = 'account-slice';

/**
 * Asks a sender to work on an account. Kicks within the same half second share one job id, so a burst
 * of kicks (expansion chunks, many single messages) is one job; the job only hands the account to a
 * worker's send scheduler and ends (a worker that finds the account leased elsewhere leaves it: the
 * lease holder drains it).
 */
export async function kickAccounts(ctx: Pick<AppContext, 'queues' | 'config'>, accountIds: Iterable<string>, delayMs = 0, kind: 'kick' | 'continue' | 'sweep' = 'kick'): Promise<void> {
  const ids = [...new Set(accountIds)];
  if (!ids.length) return;
  const bucket = Math.floor((Date.now() + delayMs) / 500);
  // Each account's kick goes to its shard's queue (one addBulk per shard: a bulk add stays in one slot).
  const byShard = new Map<string, string[]>();
  for (const id of ids) {
    const prefix = accountPrefix(ctx.config.redis, id);
    byShard.set(prefix, [...(byShard.get(prefix) ?? []), id]);
  }
  await Promise.all(
    [...byShard].map(([prefix, shardIds]) =>
      ctx.queues.get(QUEUE.messageSend, prefix).addBulk(
        shardIds.map((accountId) => ({
          name: SLICE_JOB,
          data: { accountId } satisfies AccountSliceJob,
          // The sweeper's kick has one id per account (no time bucket): while one waits, the next sweep adds none.
          opts: { jobId: kind === 'sweep' ? `sweep-${accountId}` : `${kind === 'continue' ? 'cont' : 'acct'}-${accountId}-${bucket}`, delay: delayMs > 0 ? delayMs : undefined, removeOnComplete: true, removeOnFail: true },
        })),
      ),
    ),
  );
}

/** The message-send queue that carries an account's kicks. */
export function sendQueueFor(ctx: Pick<AppContext, 'queues'> & { config: { redis: ShardedPrefix } }, accountId: string) {
  return ctx.queues.get(QUEUE.messageSend, accountPrefix(ctx.config.redis, accountId));
}

export interface ExpandJob {
  taskId: string;
}

export async function enqueueExpansion(ctx: Pick<AppContext, 'queues'>, taskId: string, delayMs = 0): Promise<void> {
  await ctx.queues.get(QUEUE.taskExpand).add('expand', { taskId } satisfies ExpandJob, {
    jobId: `expand-${taskId}-${Math.floor((Date.now() + delayMs) / 1000)}`,
    delay: delayMs > 0 ? delayMs : undefined,
    removeOnComplete: true,
    removeOnFail: true,
    attempts: 3,
    backoff: { type: 'exponential', delay: 2000 },
  });
}
