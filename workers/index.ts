import type { AppContext } from '../src/context';
import { startAccountLoginWorker } from './account-login.worker';
import { callbackProcessWorker } from './callback-process.worker';
import { startMessageSendWorker } from './message-send.worker';
import { startTaskExpandWorker } from './task-expand.worker';
import { startWebhookDeliverWorker } from './webhook-deliver.worker';

/** A running BullMQ worker (or set of them); `close` waits for in-flight jobs. */
export interface RunningWorker {
  name: string;
  close(): Promise<void>;
}

export type WorkerStarter = (ctx: AppContext) => RunningWorker | Promise<RunningWorker>;

/** Every worker the `worker` role runs; one entry file per BullMQ worker in this folder. */
export const WORKERS: ReadonlyArray<WorkerStarter> = [(ctx) => startAccountLoginWorker(ctx), callbackProcessWorker, (ctx) => startTaskExpandWorker(ctx), (ctx) => startMessageSendWorker(ctx), (ctx) => startWebhookDeliverWorker(ctx)];
