import { enqueueAccountJob } from '../../accounts/jobs';
import { failLoginAttempt, loseSession } from '../../accounts/lifecycle';
import type { AppContext } from '../../context';
import { onlineAccountsBatch, recordHeartbeats, staleOnlineAccounts } from '../../db/accounts';
import { LOGIN_IN_PROGRESS, isHeartbeatStale } from '../../domain/account-state';
import type { CronJob } from '../job';

const BATCH = 500;
/** Upper bound of accounts handled per run, so one run stays short; the next tick continues. */
const MAX_PER_RUN = 20_000;

export interface WatchdogResult {
  checked: number;
  heartbeats: number;
  gateway_offline: number;
  stale: number;
  gateway_errors: number;
  recovery_requeued: number;
  abandoned_logins: number;
}

/**
 * Heartbeat watchdog: asks the gateway about every online account (in batches), copies the gateway's
 * heartbeat into last_heartbeat_time, takes accounts the gateway reports offline out of online, then
 * marks online accounts whose heartbeat is stale offline (heartbeat_stale); both start recovery.
 */
export async function runAccountWatchdog(ctx: AppContext, now: Date): Promise<WatchdogResult> {
  const r: WatchdogResult = { checked: 0, heartbeats: 0, gateway_offline: 0, stale: 0, gateway_errors: 0, recovery_requeued: 0, abandoned_logins: 0 };
  let after = '';
  while (r.checked < MAX_PER_RUN) {
    const batch = await onlineAccountsBatch(ctx.db, after, BATCH);
    if (batch.length === 0) break;
    after = batch[batch.length - 1].id;
    r.checked += batch.length;
    const withGuid = batch.filter((a) => a.guid);
    let statuses;
    try {
      statuses = await ctx.gateway.getStatuses(withGuid.map((a) => a.guid!));
    } catch (err) {
      // Unreachable gateway: heartbeats simply stop advancing; the stale check below acts on them.
      r.gateway_errors++;
      ctx.logger.warn({ err: (err as Error).message }, 'watchdog: gateway status query failed');
      continue;
    }
    const byGuid = new Map(statuses.map((s) => [s.guid, s]));
    const beats: Array<{ id: string; at: Date }> = [];
    for (const a of withGuid) {
      const s = byGuid.get(a.guid!);
      if (!s) continue;
      if (s.online) {
        const at = s.lastHeartbeat && s.lastHeartbeat.getTime() <= now.getTime() ? s.lastHeartbeat : now;
        beats.push({ id: a.id, at });
      } else if (await loseSession(ctx, a.id, 'gateway_reports_offline', true, 'auto')) {
        r.gateway_offline++;
      }
    }
    r.heartbeats += await recordHeartbeats(ctx.db, beats);
    if (batch.length < BATCH) break;
  }

  const staleBefore = new Date(now.getTime() - ctx.config.heartbeatStaleSeconds * 1000);
  for (const a of await staleOnlineAccounts(ctx.db, staleBefore, 1000)) {
    if (!isHeartbeatStale(a.last_heartbeat_time, a.updated_at, now, ctx.config.heartbeatStaleSeconds)) continue;
    if (await loseSession(ctx, a.id, 'heartbeat_stale', true, 'auto')) r.stale++;
  }

  // Safety net: a recovering account whose scheduled attempt was lost (Redis flushed) gets a new one.
  const lostBefore = new Date(now.getTime() - 2 * ctx.config.accounts.recoveryMaxDelayMs - 60_000);
  const orphans: Array<{ id: string }> = await ctx.db('wework_accounts').select('id').where('status', 'recovering').andWhere('updated_at', '<', lostBefore).limit(100);
  for (const o of orphans) {
    await enqueueAccountJob(ctx, 'recover', { accountId: o.id });
    r.recovery_requeued++;
  }

  // Safety net: a login attempt past its deadline whose poll chain was lost ends like a timeout.
  const abandonedBefore = new Date(now.getTime() - ctx.config.accounts.loginTimeoutSeconds * 1000 - 60_000);
  const stuck: Array<{ id: string }> = await ctx.db('wework_accounts').select('id').whereIn('status', LOGIN_IN_PROGRESS).andWhere('updated_at', '<', abandonedBefore).limit(100);
  for (const s of stuck) {
    if ((await failLoginAttempt(ctx, s.id, 'login_abandoned', 'the login attempt stopped making progress', false)) !== 'skipped') r.abandoned_logins++;
  }
  return r;
}

export const accountWatchdogJob: CronJob = {
  name: 'account-watchdog',
  schedule: '*/30 * * * * *',
  run: (ctx, now) => runAccountWatchdog(ctx, now) as unknown as Promise<Record<string, unknown>>,
};
