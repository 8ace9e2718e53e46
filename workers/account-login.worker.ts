import { Worker } from 'bullmq';
import type { AccountJobData, AccountJobName } from '../src/accounts/jobs';
import { runConversationSync, runLoginPoll, runLoginStart, runRecovery } from '../src/accounts/lifecycle';
import type { AppContext } from '../src/context';
import { QUEUE } from '../src/queues/names';
import { createRedis } from '../src/redis';
import type { RunningWorker } from './index';

/**
 * Runs the account login steps (start, poll, recover, sync). Each job is one short step; waiting is a
 * delayed job, never a loop inside a job, so a few workers serve many accounts logging in at once.
 */
export function startAccountLoginWorker(ctx: AppContext, opts: { concurrency?: number } = {}): RunningWorker {
  const connection = createRedis(ctx.config.redis, 'blocking');
  connection.on('error', () => undefined);
  const worker = new Worker<AccountJobData, unknown, AccountJobName>(
    QUEUE.accountLogin,
    async (job) => {
      const { accountId, attemptId } = job.data;
      switch (job.name) {
        case 'start':
          return runLoginStart(ctx, accountId, attemptId);
        case 'poll':
          return runLoginPoll(ctx, accountId, attemptId);
        case 'recover':
          return runRecovery(ctx, accountId);
        case 'sync':
          return runConversationSync(ctx, accountId);
        default:
          return 'unknown_job';
      }
    },
    { connection, prefix: ctx.config.redis.prefix, concurrency: opts.concurrency ?? 8 },
  );
  worker.on('error', (err) => ctx.logger.warn({ err: err.message }, 'account-login worker error'));
  worker.on('failed', (job, err) => ctx.logger.warn({ job: job?.name, accountId: job?.data.accountId, err: err.message }, 'account-login job failed'));
  return {
    name: QUEUE.accountLogin,
    async close() {
      await worker.close();
      connection.disconnect();
    },
  };
}
