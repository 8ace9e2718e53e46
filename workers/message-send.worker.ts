import { Worker } from 'bullmq';
import type { AppContext } from '../src/context';
import { QUEUE } from '../src/queues/names';
import { createRedis } from '../src/redis';
import { DEFAULT_SENDER_OPTIONS, runAccountSlice, type SenderOptions } from '../src/sending/account-sender';
import { kickAccounts, type AccountSliceJob } from '../src/sending/kicks';
import { StatusWriter } from '../src/sending/status-writer';
import { startSweeper } from '../src/sending/sweeper';
import { afterStatusFlush } from '../src/sending/task-outcomes';
import type { RunningWorker } from './index';

/**
 * Message sending: each job is one slice of one account's queue (src/sending/account-sender.ts). Many
 * slices run at once (one per busy account), each paced by its account's Redis GCRA, so a slow or
 * offline account only ever occupies its own slice. Results go through one batched status writer per
 * process; the sweeper re-derives lost work from MySQL.
 */
export function startMessageSendWorker(
  ctx: AppContext,
  opts: { concurrency?: number; sender?: Partial<SenderOptions>; sweepIntervalMs?: number } = {},
): RunningWorker {
  const connection = createRedis(ctx.config.redis, 'blocking');
  connection.on('error', () => undefined);
  const writer = new StatusWriter(ctx.db, ctx.logger, (flushed) => afterStatusFlush(ctx, flushed));

  const senderOpts = { ...DEFAULT_SENDER_OPTIONS, pacingMarginPct: ctx.config.sending.pacingMarginPct, ...opts.sender };
  const worker = new Worker<AccountSliceJob>(
    QUEUE.messageSend,
    async (job) => {
      const res = await runAccountSlice(ctx, writer, job.data.accountId, senderOpts);
      if (res.continueInMs !== undefined) await kickAccounts(ctx, [job.data.accountId], Math.max(0, res.continueInMs), 'continue');
      return res;
    },
    {
      connection,
      prefix: ctx.config.redis.prefix,
      concurrency: opts.concurrency ?? 512,
      // A slice runs up to its budget; the lock is renewed meanwhile, and a stalled slice is harmless
      // (the account lock keeps a second one out, orphans are re-sent with the same key).
      lockDuration: 30_000,
    },
  );
  worker.on('error', (err) => ctx.logger.warn({ err: err.message }, 'message-send worker error'));
  worker.on('failed', (job, err) => ctx.logger.warn({ accountId: job?.data.accountId, err: err.message }, 'account slice failed'));
  const sweeper = startSweeper(ctx, opts.sweepIntervalMs);
  return {
    name: QUEUE.messageSend,
    async close() {
      await sweeper.stop();
      await worker.close();
      await writer.close();
      connection.disconnect();
    },
  };
}
