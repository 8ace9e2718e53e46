import type { AppContext } from '../../context';
import type { CronJob } from '../job';
import { reconcileMessages } from './message-reconcile';

/**
 * The official channel has no delivery callbacks: an app message is final once WeCom accepted it, and a
 * customer group-send waits until staff confirm it in the WeCom app. This job asks WeCom
 * (get_groupmsg_task / get_groupmsg_send_result, with cursors) about the official accounts' messages
 * still `sent`, every 20 s once they are WECOM_POLL_AFTER_SECONDS old, and applies the answers as
 * receipts: delivered, or failed with the customer's reason (not a friend, receive limit reached, not sent).
 */
export function pollOfficialGroupSends(ctx: AppContext, now: Date) {
  return reconcileMessages(ctx, now, { channel: 'official', afterSeconds: ctx.config.official.pollAfterSeconds });
}

export const officialGroupSendPollJob: CronJob = {
  name: 'official-group-send-poll',
  schedule: '*/20 * * * * *',
  lockTtlMs: 5 * 60_000,
  run: (ctx, now) => pollOfficialGroupSends(ctx, now) as unknown as Promise<Record<string, unknown>>,
};
