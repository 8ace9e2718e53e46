import type { AppContext } from '../../context';
import type { DeliveryReceipt } from '../../gateway/callback-protocol';
import { MESSAGE_STATUS_QUERY_MAX, type MessageStatus } from '../../gateway/types';
import { applyDeliveryReceipts, applyPendingReceipts, purgeStalePendingReceipts, PENDING_RECEIPT_TTL_MS } from '../../sending/receipts';
import type { CronJob } from '../job';

/** Messages asked about per account and run; the oldest first, the rest on the next runs. */
const PER_ACCOUNT = 1000;
/** Accounts looked at per run. */
const MAX_ACCOUNTS = 500;

export interface ReconcileStats {
  accounts: number;
  asked: number;
  delivered: number;
  failed: number;
  /** The gateway has no receipt yet either. */
  still_sent: number;
  /** The gateway has no record of the id. */
  unknown: number;
  /** Kept receipts applied because their message is recorded now (a flush hook that did not run). */
  kept_applied: number;
  kept_purged: number;
  gateway_errors: number;
}

/**
 * Reconciliation of receipts: a gateway gives up on a callback after a few attempts (the service was
 * down, a network blip), so a message can stay `sent` although it was delivered. Messages `sent` for
 * longer than RECONCILE_AFTER_SECONDS without a receipt (and for less than a week) are asked about at
 * their gateway (POST /instances/:guid/messages/status/query), and the answers are applied exactly as
 * receipts are (conditional on `sent`, counters moved by the rows changed), so a receipt that arrives
 * after all changes nothing. Also applies kept early receipts whose message is recorded now, and drops
 * those whose message never appeared.
 */
export async function reconcileMessages(ctx: AppContext, now: Date, opts: { channel?: string; afterSeconds?: number } = {}): Promise<ReconcileStats> {
  const stats: ReconcileStats = { accounts: 0, asked: 0, delivered: 0, failed: 0, still_sent: 0, unknown: 0, kept_applied: 0, kept_purged: 0, gateway_errors: 0 };
  if (!opts.channel) {
    const kept = await applyPendingReceipts(ctx, { limit: 5000 });
    stats.kept_applied = kept.delivered + kept.failed;
    stats.kept_purged = await purgeStalePendingReceipts(ctx.db, now);
  }

  const sentBefore = new Date(now.getTime() - (opts.afterSeconds ?? ctx.config.sending.reconcileAfterSeconds) * 1000);
  const sentAfter = new Date(now.getTime() - PENDING_RECEIPT_TTL_MS);
  const overdue = (q: ReturnType<AppContext['db']>) => q.where('m.status', 'sent').where('m.send_time', '<', sentBefore).where('m.send_time', '>', sentAfter).whereNotNull('m.wework_msg_id');
  const accounts: Array<{ id: string; guid: string }> = await ctx
    .db('wework_accounts as a')
    .select('a.id', 'a.guid')
    .whereNotNull('a.guid')
    .modify((q) => {
      if (opts.channel) q.where('a.channel', opts.channel);
    })
    .whereExists((q) => overdue(q.select(ctx.db.raw('1')).from('messages as m').whereRaw('m.account_id = a.id')))
    .limit(MAX_ACCOUNTS);
  for (const account of accounts) {
    stats.accounts += 1;
    const rows: Array<{ id: string; wework_msg_id: string }> = await overdue(ctx.db('messages as m').select('m.id', 'm.wework_msg_id').where('m.account_id', account.id))
      .orderBy('m.send_time')
      .limit(PER_ACCOUNT);
    // The answers name the gateway's ids; the receipts name our messages, found by primary key.
    const messagesOf = new Map<string, string[]>();
    for (const r of rows) messagesOf.set(r.wework_msg_id, [...(messagesOf.get(r.wework_msg_id) ?? []), r.id]);
    const ids = [...messagesOf.keys()];
    for (let i = 0; i < ids.length; i += MESSAGE_STATUS_QUERY_MAX) {
      const chunk = ids.slice(i, i + MESSAGE_STATUS_QUERY_MAX);
      let answers: MessageStatus[];
      try {
        answers = await ctx.gateway.queryMessageStatus(account.guid, chunk);
      } catch (err) {
        // This account's gateway is unreachable or refuses: the next run asks again.
        stats.gateway_errors += 1;
        ctx.logger.warn({ err: (err as Error).message, accountId: account.id }, 'message status query failed');
        break;
      }
      stats.asked += chunk.length;
      const receipts = answers.filter((a) => chunk.includes(a.messageId)).flatMap((a) => receiptsOf(a, messagesOf.get(a.messageId) ?? []));
      for (const a of answers) if (a.status === 'sent') stats.still_sent += 1;
      else if (a.status === 'unknown') stats.unknown += 1;
      const applied = await applyDeliveryReceipts(ctx, account.guid, receipts);
      stats.delivered += applied.delivered;
      stats.failed += applied.failed;
    }
  }
  if (stats.delivered + stats.failed > 0) ctx.logger.info({ ...stats }, 'receipts reconciled from the gateway');
  return stats;
}

/** The receipts a gateway's answer amounts to: one per message it names (none while it is still `sent`). */
function receiptsOf(a: MessageStatus, messageIds: string[]): DeliveryReceipt[] {
  if (a.status !== 'delivered' && a.status !== 'failed') return [];
  const status = a.status;
  return messageIds.map((id) => ({
    kind: 'receipt',
    msg_id: a.messageId,
    client_msg_id: id,
    status,
    error_code: a.errorCode,
    error_message: a.errorMessage,
    at: (a.at ?? new Date()).getTime(),
  }));
}

export const messageReconcileJob: CronJob = {
  name: 'message-reconcile',
  schedule: '*/30 * * * * *',
  lockTtlMs: 5 * 60_000,
  run: (ctx, now) => reconcileMessages(ctx, now) as unknown as Promise<Record<string, unknown>>,
};
