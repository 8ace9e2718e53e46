import { randomUUID } from 'node:crypto';
import type { AppContext } from '../context';
import { findAccountById, replaceAccountGuid, transitionAccount, type AccountRow, type TransitionResult } from '../db/accounts';
import { syncConversations } from '../db/conversations';
import {
  ACCOUNT_STATUSES,
  LOGIN_IN_PROGRESS,
  canTransition,
  decideLoginProgress,
  failureTarget,
  recoveryDecision,
  recoveryDelayMs,
  type AccountStatus,
  type OperatorType,
} from '../domain/account-state';
import { loadSecret } from '../db/channel-credentials';
import { isGatewayError } from '../gateway/errors';
import { isLoginQr, type InstanceSpec, type LoginQr } from '../gateway/types';
import { enqueueAccountJob } from './jobs';
import { clearLoginState, currentAttempt, saveAttempt, saveQr } from './login-store';

/**
 * The login and recovery flows, step by step. Each step reads the account, asks the domain module what
 * to do, performs one gateway call at most and one transition, and schedules the next step as a job.
 */

export const qrUrlFor = (ctx: AppContext, accountId: string) => `${ctx.config.http.publicUrl}/api/v1/accounts/${accountId}/qr`;

/** A recovery attempt is under way when the account has used recovery retries (an operator login resets them). */
const isRecoveryAttempt = (a: AccountRow) => a.login_retry_count > 0;

/** Starts a new login attempt for an account that is already logging_in: new attempt id + deadline, then the start job. */
export async function beginLoginAttempt(ctx: AppContext, accountId: string): Promise<string> {
  const id = randomUUID();
  await saveAttempt(ctx, accountId, { id, deadline: Date.now() + ctx.config.accounts.loginTimeoutSeconds * 1000 });
  await enqueueAccountJob(ctx, 'start', { accountId, attemptId: id });
  return id;
}

async function isCurrent(ctx: AppContext, accountId: string, attemptId: string | undefined) {
  const a = await currentAttempt(ctx, accountId);
  return a && a.id === attemptId ? a : undefined;
}

export type StepOutcome = 'stale' | 'skipped' | 'waiting' | 'moved' | 'online' | 'failed' | 'recovering' | 'gave_up' | 'synced';

/** Job `start`: get a QR code from the gateway, keep it, tell operators, start polling. */
export async function runLoginStart(ctx: AppContext, accountId: string, attemptId: string | undefined): Promise<StepOutcome> {
  if (!(await isCurrent(ctx, accountId, attemptId))) return 'stale';
  const acct = await findAccountById(ctx.db, accountId);
  if (!acct || acct.status !== 'logging_in' || !acct.guid) return 'skipped';
  let start;
  try {
    start = await startLoginOnLiveInstance(ctx, acct);
  } catch (err) {
    if (!isGatewayError(err)) throw err;
    return failLoginAttempt(ctx, accountId, `gateway_${err.code}`, err.message, err.kind === 'permanent');
  }
  if (!isLoginQr(start)) {
    // No QR needed (the provider kept the session, or asks for a code at once): the poll step decides.
    const d = decideLoginProgress(acct.status, start);
    if (d.action === 'succeed') {
      // A channel without QR login (official API) says why: its history records the QR steps as skipped.
      const why = start.state === 'online' ? start.reason : undefined;
      await completeLogin(ctx, accountId, d.userInfo, 'system', why ?? 'session_resumed', undefined, why ? { qr_steps: 'skipped', channel: acct.channel } : undefined);
      return 'online';
    }
    if (d.action === 'fail') return failLoginAttempt(ctx, accountId, d.reason, null, false);
    // Only from the state the decision was made in: a callback may have moved the account meanwhile.
    if (d.action === 'move') await transitionAccount(ctx, { accountId, to: d.to, reason: d.reason, operatorType: 'system', expectFrom: [acct.status] });
    await enqueueAccountJob(ctx, 'poll', { accountId, attemptId }, ctx.config.accounts.loginPollMs);
    return 'moved';
  }
  const qr = start;
  await saveQr(ctx, accountId, qr);
  const res = await transitionAccount(ctx, {
    accountId,
    to: 'waiting_scan',
    reason: 'qr_ready',
    operatorType: 'system',
    expectFrom: ['logging_in'],
    extra: { qr_expires_at: qr.expiresAt.toISOString() },
    patch: { qr_code_url: qrUrlFor(ctx, accountId), error_message: null },
  });
  if (res.changed) ctx.realtime.toTenant(acct.tenant_id, 'account.qr', { account_id: accountId, expires_at: qr.expiresAt.toISOString() });
  await enqueueAccountJob(ctx, 'poll', { accountId, attemptId }, ctx.config.accounts.loginPollMs);
  return res.changed ? 'moved' : 'skipped';
}

/**
 * Starts the login on the account's gateway instance; when the gateway no longer has that instance
 * (it restarted, or dropped the session), creates a new one for the account and logs in there.
 */
async function startLoginOnLiveInstance(ctx: AppContext, acct: AccountRow) {
  const gateway = ctx.gateway.for(acct.channel);
  try {
    return await gateway.startLogin(acct.guid!);
  } catch (err) {
    if (!isGatewayError(err) || err.code !== 'instance_not_found') throw err;
    const { guid } = await gateway.createInstance(await instanceSpecFor(ctx, acct));
    await replaceAccountGuid(ctx.db, acct.id, guid);
    acct.guid = guid;
    return gateway.startLogin(guid);
  }
}

/** What the gateway needs to (re)create the account's instance: its label and decrypted credentials. */
export async function instanceSpecFor(ctx: AppContext, acct: Pick<AccountRow, 'id' | 'account_name' | 'channel'>): Promise<InstanceSpec> {
  const credentials = await loadSecret(ctx.db, ctx.config.channels.keyRing, acct.id);
  return { label: acct.account_name, channel: acct.channel, credentials };
}

/**
 * The gateway replaced a timed-out QR code within the same attempt (callback 7 `qr_refreshed`): keep the
 * new one, record the step and tell operators, as for the first QR.
 */
export async function refreshQr(ctx: AppContext, acct: AccountRow, qr: LoginQr): Promise<boolean> {
  if (acct.status !== 'waiting_scan' && acct.status !== 'logging_in') return false;
  await saveQr(ctx, acct.id, qr);
  const res = await transitionAccount(ctx, {
    accountId: acct.id,
    to: 'waiting_scan',
    reason: 'qr_refreshed',
    operatorType: 'system',
    expectFrom: ['waiting_scan', 'logging_in'],
    extra: { qr_expires_at: qr.expiresAt.toISOString() },
    patch: { qr_code_url: qrUrlFor(ctx, acct.id) },
  });
  ctx.realtime.toTenant(acct.tenant_id, 'account.qr', { account_id: acct.id, expires_at: qr.expiresAt.toISOString(), refreshed: true });
  return res.changed;
}

/** Job `poll`: one look at the gateway's login progress; re-enqueues itself until the attempt ends. */
export async function runLoginPoll(ctx: AppContext, accountId: string, attemptId: string | undefined): Promise<StepOutcome> {
  const attempt = await isCurrent(ctx, accountId, attemptId);
  if (!attempt) return 'stale';
  const acct = await findAccountById(ctx.db, accountId);
  if (!acct || !acct.guid) return 'skipped';
  if (!LOGIN_IN_PROGRESS.includes(acct.status)) {
    // Moved on by a callback or an operator; this attempt's polling is over.
    if (acct.status === 'online') await clearLoginState(ctx, accountId);
    return 'skipped';
  }
  const again = () => enqueueAccountJob(ctx, 'poll', { accountId, attemptId }, ctx.config.accounts.loginPollMs);
  const gateway = ctx.gateway.for(acct.channel);
  if (Date.now() > attempt.deadline) {
    await gateway.cancelLogin(acct.guid).catch(() => undefined);
    return failLoginAttempt(ctx, accountId, 'login_timeout', `nobody completed the login within ${ctx.config.accounts.loginTimeoutSeconds}s`, false);
  }
  let progress;
  try {
    progress = await gateway.getLoginProgress(acct.guid);
  } catch (err) {
    if (!isGatewayError(err)) throw err;
    if (err.kind === 'permanent') return failLoginAttempt(ctx, accountId, `gateway_${err.code}`, err.message, true);
    await again();
    return 'waiting';
  }
  const d = decideLoginProgress(acct.status, progress);
  switch (d.action) {
    case 'wait':
      await again();
      return 'waiting';
    case 'move':
      // Only from the state the decision was made in: a callback may have made the same move meanwhile.
      await transitionAccount(ctx, { accountId, to: d.to, reason: d.reason, operatorType: 'system', expectFrom: [acct.status] });
      await again();
      return 'moved';
    case 'succeed':
      await completeLogin(ctx, accountId, d.userInfo, 'system', 'login_confirmed');
      return 'online';
    case 'fail':
      return failLoginAttempt(ctx, accountId, d.reason, null, false);
  }
}

const CAN_GO_ONLINE = ACCOUNT_STATUSES.filter((s) => canTransition(s, 'online'));

/** The account is online: record it, reset recovery, drop the QR, sync conversations. */
export async function completeLogin(
  ctx: AppContext,
  accountId: string,
  userInfo: Record<string, unknown>,
  operatorType: OperatorType,
  reason: string,
  operatorId?: string,
  extra?: Record<string, unknown>,
): Promise<TransitionResult> {
  const now = new Date();
  const res = await transitionAccount(ctx, {
    accountId,
    to: 'online',
    reason,
    operatorType,
    operatorId,
    extra,
    expectFrom: CAN_GO_ONLINE,
    patch: { user_info: userInfo, last_login_time: now, last_heartbeat_time: now, login_retry_count: 0, error_message: null, qr_code_url: null },
  });
  if (res.changed) {
    await clearLoginState(ctx, accountId);
    await enqueueAccountJob(ctx, 'sync', { accountId });
  }
  return res;
}

/**
 * A login attempt ended without success. An operator's attempt goes offline (error if permanent); a
 * recovery attempt goes back to recovering and the next try is scheduled with backoff.
 */
export async function failLoginAttempt(
  ctx: AppContext,
  accountId: string,
  reason: string,
  errorMessage: string | null,
  permanent: boolean,
): Promise<StepOutcome> {
  const acct = await findAccountById(ctx.db, accountId);
  if (!acct) return 'skipped';
  const to = failureTarget(isRecoveryAttempt(acct), permanent);
  const res = await transitionAccount(ctx, {
    accountId,
    to,
    reason,
    errorMessage,
    operatorType: 'system',
    expectFrom: LOGIN_IN_PROGRESS,
    patch: { qr_code_url: null, error_message: errorMessage ?? reason },
  });
  if (!res.changed) return 'skipped';
  await clearLoginState(ctx, accountId);
  if (to === 'recovering') {
    await scheduleRecovery(ctx, res.account);
    return 'recovering';
  }
  return 'failed';
}

/** An online account was lost (kicked, expired, network, stale heartbeat): mark it offline and recover. */
export async function loseSession(ctx: AppContext, accountId: string, reason: string, recover: boolean, operatorType: OperatorType = 'system'): Promise<boolean> {
  const off = await transitionAccount(ctx, {
    accountId,
    to: 'offline',
    reason,
    operatorType,
    expectFrom: ['online'],
  });
  if (!off.changed) return false;
  if (recover) await beginRecovery(ctx, accountId, reason);
  return true;
}

/** offline → recovering, then the first recovery attempt after backoff. */
export async function beginRecovery(ctx: AppContext, accountId: string, reason: string): Promise<boolean> {
  const res = await transitionAccount(ctx, {
    accountId,
    to: 'recovering',
    reason: `recovery_started:${reason}`,
    operatorType: 'auto',
    expectFrom: ['offline'],
  });
  if (res.changed) await scheduleRecovery(ctx, res.account);
  return res.changed;
}

async function scheduleRecovery(ctx: AppContext, acct: AccountRow): Promise<void> {
  const { recoveryBaseDelayMs, recoveryMaxDelayMs } = ctx.config.accounts;
  // base, 2·base, 4·base … by the number of attempts already made.
  await enqueueAccountJob(ctx, 'recover', { accountId: acct.id }, recoveryDelayMs(acct.login_retry_count, recoveryBaseDelayMs, recoveryMaxDelayMs));
}

/** Job `recover`: one more re-login attempt, or error once the retry cap is reached. */
export async function runRecovery(ctx: AppContext, accountId: string): Promise<StepOutcome> {
  const acct = await findAccountById(ctx.db, accountId);
  if (!acct || acct.status !== 'recovering') return 'skipped';
  const cap = ctx.config.accounts.recoveryMaxRetries;
  if (recoveryDecision(acct.login_retry_count, cap) === 'give_up') {
    const res = await transitionAccount(ctx, {
      accountId,
      to: 'error',
      reason: 'recovery_exhausted',
      errorMessage: `re-login failed ${acct.login_retry_count} times (cap ${cap}); last: ${acct.error_message ?? 'unknown'}`,
      operatorType: 'auto',
      expectFrom: ['recovering'],
      patch: { error_message: `recovery gave up after ${acct.login_retry_count} attempts` },
    });
    return res.changed ? 'gave_up' : 'skipped';
  }
  const attemptNo = acct.login_retry_count + 1;
  const res = await transitionAccount(ctx, {
    accountId,
    to: 'logging_in',
    reason: 'recovery_attempt',
    operatorType: 'auto',
    expectFrom: ['recovering'],
    extra: { attempt: attemptNo, max_retries: cap },
    patch: { login_retry_count: attemptNo },
  });
  if (!res.changed) return 'skipped';
  await beginLoginAttempt(ctx, accountId);
  return 'moved';
}

/** Job `sync`: conversations of an online account, from the gateway into the conversations table. */
export async function runConversationSync(ctx: AppContext, accountId: string): Promise<{ synced: number; deactivated: number } | undefined> {
  const acct = await findAccountById(ctx.db, accountId);
  if (!acct || acct.status !== 'online' || !acct.guid) return undefined;
  try {
    const convs = await ctx.gateway.for(acct.channel).listConversations(acct.guid);
    return await syncConversations(ctx.db, acct.tenant_id, acct.id, convs);
  } catch (err) {
    if (isGatewayError(err) && err.kind !== 'retryable') return undefined;
    throw err;
  }
}

export type { AccountStatus };
