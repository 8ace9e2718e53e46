import type { AppContext } from '../context';
import { QUEUE } from '../queues/names';

/**
 * Jobs of the account-login queue. They carry ids only; every step re-reads the account and does
 * nothing when it has moved on, so a job running twice is harmless.
 *  - start:   ask the gateway for a QR code (account is logging_in)
 *  - poll:    check login progress; re-enqueued with a delay until the attempt ends (no blocking loop)
 *  - recover: one recovery attempt after backoff (account is recovering)
 *  - sync:    pull the account's conversations from the gateway
 */
export type AccountJobName = 'start' | 'poll' | 'recover' | 'sync';

export interface AccountJobData {
  accountId: string;
  attemptId?: string;
}

export async function enqueueAccountJob(ctx: AppContext, name: AccountJobName, data: AccountJobData, delayMs = 0): Promise<void> {
  await ctx.queues.get(QUEUE.accountLogin).add(name, data, {
    delay: Math.max(0, Math.round(delayMs)),
    removeOnComplete: 1000,
    removeOnFail: 1000,
    // Only unexpected errors (database, Redis) throw; gateway failures are decisions, not job failures.
    attempts: 3,
    backoff: { type: 'exponential', delay: 1000 },
  });
}
