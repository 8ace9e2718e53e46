import { Worker } from 'bullmq';
import type { AppContext } from '../src/context';
import { QUEUE } from '../src/queues/names';
import { createRedis } from '../src/redis';
import { allShardPrefixes } from '../src/redis-keyspace';
import { DEFAULT_SENDER_OPTIONS, type SenderOptions } from '../src/sending/account-sender';
import type { AccountSliceJob } from '../src/sending/kicks';
import { SendScheduler } from '../src/sending/scheduler';
import { StatusWriter } from '../src/sending/status-writer';
import { startSweeper } from '../src/sending/sweeper';
import { afterStatusFlush } from '../src/sending/task-outcomes';
import type { RunningWorker } from './index';

/**
 * Message sending: a message-send job is a kick ("look at this account"); it hands the account to this
 * process's send scheduler (src/sending/scheduler.ts) and ends at once. The scheduler leases the
 * account and runs it, paced by the account's Redis GCRA, so a slow or offline account only ever holds
 * its own run and no job stays busy while an account waits for its next slot. Results go through one
 * batched status writer per process; the sweeper re-derives lost work from MySQL.
 */
export function startMessageSendWorker(
  ctx: AppContext,
  opts: { concurrency?: number; sender?: Partial<SenderOptions>; sweepIntervalMs?: number } = {},
): RunningWorker {
  const connection = createRedis(ctx.config.redis, 'blocking');
  connection.on('error', () => undefined);
  const writer = new StatusWriter(ctx.db, ctx.logger, (flushed) => afterStatusFlush(ctx, flushed));

  const senderOpts = { ...DEFAULT_SENDER_OPTIONS, pacingMarginPct: ctx.config.sending.pacingMarginPct, ...opts.sender };
  const scheduler = new SendScheduler(ctx, writer, senderOpts);
  // One BullMQ worker per hash-tag shard's queue (one when REDIS_SHARDS = 1); they share the scheduler.
  const workers = allShardPrefixes(ctx.config.redis).map((prefix) => {
    const worker = new Worker<AccountSliceJob>(QUEUE.messageSend, (job) => scheduler.wake(job.data.accountId, job.data.wait === true), {
      connection,
      prefix,
      concurrency: opts.concurrency ?? 64,
    });
    worker.on('error', (err) => ctx.logger.warn({ err: err.message }, 'message-send worker error'));
    worker.on('failed', (job, err) => ctx.logger.warn({ accountId: job?.data.accountId, err: err.message }, 'account kick failed'));
    return worker;
  });
  const sweeper = startSweeper(ctx, opts.sweepIntervalMs);
  return {
    name: QUEUE.messageSend,
    async close() {
      await sweeper.stop();
      await Promise.all(workers.map((w) => w.close()));
      await scheduler.close();
      await writer.close();
      connection.disconnect();
    },
  };
}
