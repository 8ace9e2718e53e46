import { Worker, type Job } from 'bullmq';
import type { AppContext } from '../src/context';
import { QUEUE } from '../src/queues/names';
import { createRedis } from '../src/redis';
import { allShardPrefixes } from '../src/redis-keyspace';
import { DEFAULT_SENDER_OPTIONS, type SenderOptions } from '../src/sending/account-sender';
import type { AccountSliceJob } from '../src/sending/kicks';
import { SendScheduler } from '../src/sending/scheduler';
import { StatusWriter } from '../src/sending/status-writer';
import { startSweeper } from '../src/sending/sweeper';
import { afterStatusFlush, TaskSettler } from '../src/sending/task-outcomes';
import { EndpointSubscriptions } from '../src/webhooks/subscriptions';
import type { RunningWorker } from './index';

/**
 * Message sending: a message-send job is a kick ("look at this account"); it hands the account to this
 * process's send scheduler (src/sending/scheduler.ts) and ends at once. The scheduler leases the
 * account and runs it, paced by the account's Redis GCRA, so a slow or offline account only ever holds
 * its own run and no job stays busy while an account waits for its next slot. Results go through one
 * batched status writer per process; the sweeper re-derives lost work from MySQL.
 */
const STALL_MS = 15_000;

export function startMessageSendWorker(
  ctx: AppContext,
  opts: { concurrency?: number; sender?: Partial<SenderOptions>; sweepIntervalMs?: number } = {},
): RunningWorker {
  const connection = createRedis(ctx.config.redis, 'blocking');
  connection.on('error', () => undefined);
  const subscriptions = new EndpointSubscriptions(ctx.redis, ctx.config.redis.prefix);
  const settler = new TaskSettler(ctx);
  const writer = new StatusWriter(ctx.db, ctx.logger, (flushed) => afterStatusFlush(ctx, flushed, settler), { maxBatch: 500, maxDelayMs: 100, subscriptions });

  const senderOpts = { ...DEFAULT_SENDER_OPTIONS, pacingMarginPct: ctx.config.sending.pacingMarginPct, useCountedAt: ctx.config.sending.useCountedAt, ...opts.sender };
  const scheduler = new SendScheduler(ctx, writer, senderOpts);
  // One BullMQ worker per hash-tag shard's queue (one when REDIS_SHARDS = 1); they share the scheduler.
  const lastProgress = new Map<string, number>();
  const startWorker = (prefix: string) => {
    // A run reads the account's tasks as of its kick's creation (not its processing): the thousand kicks of
    // an expansion chunk share one read of the tenant's running tasks instead of forcing one each.
    const wake = (job: Job<AccountSliceJob>) => scheduler.wake(job.data.accountId, job.data.wait === true, Math.min(Date.now(), job.timestamp));
    const worker = new Worker<AccountSliceJob>(QUEUE.messageSend, wake, {
      connection,
      prefix,
      concurrency: opts.concurrency ?? 64,
    });
    worker.on('error', (err) => ctx.logger.warn({ err: err.message }, 'message-send worker error'));
    worker.on('failed', (job, err) => ctx.logger.warn({ accountId: job?.data.accountId, err: err.message }, 'account kick failed'));
    worker.on('completed', () => lastProgress.set(prefix, Date.now()));
    lastProgress.set(prefix, Date.now());
    return worker;
  };
  const workers = new Map(allShardPrefixes(ctx.config.redis).map((prefix) => [prefix, startWorker(prefix)] as const));
  // Kicks end at once, so a shard whose queue has waiting kicks and whose worker finished none for a while
  // is stalled: after a Redis Cluster failover (a master killed with SIGKILL) a BullMQ worker's blocking
  // read was seen never to return. Such a worker is replaced by a fresh one (new blocking connection).
  let closing = false;
  const watchdog = setInterval(() => {
    void (async () => {
      for (const [prefix, worker] of workers) {
        if (closing || Date.now() - (lastProgress.get(prefix) ?? 0) < STALL_MS) continue;
        const waiting = await ctx.queues.get(QUEUE.messageSend, prefix).getWaitingCount().catch(() => 0);
        if (closing || workers.get(prefix) !== worker) continue;
        if (waiting === 0) {
          lastProgress.set(prefix, Date.now());
          continue;
        }
        ctx.logger.warn({ prefix, waiting }, 'message-send worker took no kick for a while with kicks waiting: replacing it');
        workers.set(prefix, startWorker(prefix));
        void worker.close(true).catch(() => undefined);
      }
    })().catch((err) => ctx.logger.warn({ err }, 'message-send watchdog failed'));
  }, STALL_MS / 3);
  watchdog.unref();
  const sweeper = startSweeper(ctx, opts.sweepIntervalMs, senderOpts.lockTtlMs);
  return {
    name: QUEUE.messageSend,
    async close() {
      closing = true;
      clearInterval(watchdog);
      // Runs stop at once (not after the sweep in flight and the kicks in flight: meanwhile queued runs
      // went on starting); the BullMQ workers take no more kicks from the same moment.
      await Promise.all([...[...workers.values()].map((w) => w.close()), scheduler.close(), sweeper.stop()]);
      await writer.close();
      await settler.close();
      connection.disconnect();
    },
  };
}
