import { Worker } from 'bullmq';
import type { AppContext } from '../src/context';
import { QUEUE } from '../src/queues/names';
import { createRedis } from '../src/redis';
import { expandTask } from '../src/sending/expand';
import type { ExpandJob } from '../src/sending/kicks';
import { DRAIN_JOB, runDrainJob } from '../src/sending/task-drain';
import type { RunningWorker } from './index';

/**
 * Expands started tasks' targets into messages (src/sending/expand.ts; safe to run twice, resumes from the
 * cursor), and drains cancelled tasks' pending messages in chunks (src/sending/task-drain.ts).
 */
export function startTaskExpandWorker(ctx: AppContext, opts: { concurrency?: number } = {}): RunningWorker {
  const connection = createRedis(ctx.config.redis, 'blocking');
  connection.on('error', () => undefined);
  const worker = new Worker<ExpandJob>(QUEUE.taskExpand, async (job) => (job.name === DRAIN_JOB ? runDrainJob(ctx, job.data.taskId) : expandTask(ctx, job.data.taskId)), {
    connection,
    prefix: ctx.config.redis.prefix,
    concurrency: opts.concurrency ?? 4,
    lockDuration: 60_000,
  });
  worker.on('error', (err) => ctx.logger.warn({ err: err.message }, 'task-expand worker error'));
  worker.on('failed', (job, err) => ctx.logger.warn({ taskId: job?.data.taskId, err: err.message }, 'task expansion failed'));
  return {
    name: QUEUE.taskExpand,
    async close() {
      await worker.close();
      connection.disconnect();
    },
  };
}
