import type { AppContext } from '../context';
import { findAccountByGuid, transitionAccount } from '../db/accounts';
import { LOGIN_IN_PROGRESS, decideLoginProgress, shouldRecover } from '../domain/account-state';
import { NOTIFY } from '../gateway/callback-protocol';
import type { LoginProgress, LoginQr } from '../gateway/types';
import { completeLogin, failLoginAttempt, loseSession, refreshQr } from './lifecycle';

export interface AccountCallback {
  guid: string;
  notify_type: number;
  payload: Record<string, unknown>;
}

export interface AccountCallbackResult {
  /** false: not an account event, or no account has this guid (the processor may mark it ignored). */
  handled: boolean;
  accountId?: string;
  tenantId?: string;
  /** What happened, for the event row: heartbeat, online, offline, recovering, moved, ignored … */
  outcome: string;
}

/**
 * Applies a gateway callback about an account (notify 1 online, 2 offline, 7 login progress) through
 * the state machine. Safe to call twice with the same event: every transition names the states it
 * expects, so a repeat finds the account already moved on and changes nothing.
 */
export async function applyAccountCallback(ctx: AppContext, cb: AccountCallback): Promise<AccountCallbackResult> {
  if (cb.notify_type !== NOTIFY.online && cb.notify_type !== NOTIFY.offline && cb.notify_type !== NOTIFY.loginProgress) {
    return { handled: false, outcome: 'not_an_account_event' };
  }
  const acct = await findAccountByGuid(ctx.db, cb.guid);
  if (!acct) return { handled: false, outcome: 'unknown_guid' };
  const ids = { accountId: acct.id, tenantId: acct.tenant_id };
  const payload = cb.payload ?? {};

  if (cb.notify_type === NOTIFY.online) {
    const userInfo = (payload.user_info as Record<string, unknown> | undefined) ?? {};
    if (acct.status === 'online') {
      await ctx.db('wework_accounts').where({ id: acct.id, status: 'online' }).update({ last_heartbeat_time: new Date() });
      return { handled: true, ...ids, outcome: 'heartbeat' };
    }
    const res = await completeLogin(ctx, acct.id, userInfo, 'system', 'gateway_online');
    return { handled: true, ...ids, outcome: res.changed ? 'online' : 'ignored' };
  }

  if (cb.notify_type === NOTIFY.offline) {
    const scene = typeof payload.scene === 'string' ? payload.scene : 'unknown';
    if (LOGIN_IN_PROGRESS.includes(acct.status)) {
      const outcome = await failLoginAttempt(ctx, acct.id, `gateway_offline:${scene}`, typeof payload.reason === 'string' ? payload.reason : null, false);
      return { handled: true, ...ids, outcome };
    }
    if (acct.status !== 'online') return { handled: true, ...ids, outcome: 'ignored' };
    const recover = shouldRecover(scene);
    const lost = await loseSession(ctx, acct.id, scene, recover);
    return { handled: true, ...ids, outcome: !lost ? 'ignored' : recover ? 'recovering' : 'offline' };
  }

  // notify 7: login progress reported by the gateway ahead of the next poll.
  if (!LOGIN_IN_PROGRESS.includes(acct.status)) return { handled: true, ...ids, outcome: 'ignored' };
  if (payload.state === 'qr_refreshed') {
    const qr = qrOf(payload);
    if (!qr) return { handled: true, ...ids, outcome: 'ignored' };
    return { handled: true, ...ids, outcome: (await refreshQr(ctx, acct, qr)) ? 'qr_refreshed' : 'ignored' };
  }
  const progress = toProgress(payload);
  if (!progress) return { handled: true, ...ids, outcome: 'ignored' };
  const d = decideLoginProgress(acct.status, progress);
  if (d.action === 'move') {
    // Only from the state the decision was made in: the login poll may have made the same move meanwhile.
    const res = await transitionAccount(ctx, { accountId: acct.id, to: d.to, reason: d.reason, operatorType: 'system', expectFrom: [acct.status] });
    return { handled: true, ...ids, outcome: res.changed ? 'moved' : 'ignored' };
  }
  if (d.action === 'fail') return { handled: true, ...ids, outcome: await failLoginAttempt(ctx, acct.id, d.reason, null, false) };
  return { handled: true, ...ids, outcome: 'ignored' };
}

/** The new QR of a `qr_refreshed` report, when it is complete. */
function qrOf(payload: Record<string, unknown>): LoginQr | undefined {
  const { qr_png_base64: png, qr_content: content, expires_at: at } = payload;
  if (typeof png !== 'string' || typeof content !== 'string' || typeof at !== 'string' || Number.isNaN(Date.parse(at))) return undefined;
  return { qrPngBase64: png, qrContent: content, expiresAt: new Date(at) };
}

function toProgress(payload: Record<string, unknown>): LoginProgress | undefined {
  switch (payload.state) {
    case 'waiting_confirm':
      return { state: 'waiting_confirm' };
    case 'need_verify':
      return { state: 'need_verify', reason: typeof payload.reason === 'string' ? payload.reason : undefined };
    case 'qr_expired':
      return { state: 'qr_expired' };
    case 'verify_failed':
      return { state: 'verify_failed', reason: payload.reason === 'expired' ? 'expired' : 'wrong_code' };
    default:
      return undefined;
  }
}
