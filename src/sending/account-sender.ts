import type { AppContext } from '../context';
import { claimMessages, nextScheduledAt, orphanedSending, type ClaimedMessage } from '../db/messages';
import type { ClaimBatcher } from './claim-batcher';
import type { GroupRead } from './group-read';
import { parseJson } from '../db/json';
import { getTask, type SendStrategy } from '../db/tasks';
import {
  capDay,
  isWithinWindow,
  nextPacedSendAt,
  pacedIntervalMs,
  pacedSendDue,
  jitteredInterval,
  msUntilNextLocalDay,
  msUntilWindowOpens,
  retryDelayMs,
  shouldRetry,
  type RetryPolicy,
} from '../domain/throttle';
import { isGatewayError, isGatewayUnreachable } from '../gateway/errors';
import type { MessageContent } from '../gateway/types';
import { accountDailyCap, capHour, controlsOf, msUntilNextLocalHour, type CampaignControls } from '../domain/campaign-controls';
import { FrequencyCapCounter } from './frequency-cap';
import type { CapKind, LimitKeys, SendLimits } from './limits';
import { recordPacedAnswer, recordPacedGap, recordPacedSend } from './pacing-stats';
import { isRiskAnswer, RiskWatch } from './risk-pause';
import type { SinglesLookup } from './singles-lookup';
import type { Slots } from './slots';
import { keys, senderRedis } from './redis-scripts';
import type { SendOutcome } from './send-outcome';
import type { StatusWriter } from './status-writer';
import type { TaskDirectory } from './task-directory';
import type { TimerHeap } from './timer-heap';

/**
 * The per-account sender: one run over one account's queue, by the worker process holding the account's
 * lease (src/sending/scheduler.ts). Only the lease holder sends for an account, so an account's pace,
 * its offline state and its slowness concern its own run only; the runs of many accounts interleave on
 * one event loop, waiting on the process's one timer heap (no timer, no BullMQ job per account).
 *
 * A run: re-sends what a dead sender left in `sending` (same idempotency key: the gateway dedupes), then
 * repeatedly picks the highest-priority source with an open window (running tasks using this account,
 * or single messages). Paced sources are claimed ahead: daily-cap units and GCRA slots for the next
 * `claimAheadMs` are taken in one Redis call, that many messages claimed (pending → sending), and each
 * sent at its slot, while the next claim is already in flight; nothing is ever sent before its slot.
 * Results go to the batched status writer; claimed messages not sent when the run ends go back to
 * pending, and their cap units and slots are given back.
 */
export interface SenderOptions {
  /** Unthrottled: how long one source is drained before the sources are looked at again (ms). */
  budgetMs: number;
  /** Messages claimed at most per step. */
  batchSize: number;
  /** Parallel gateway calls per account when unthrottled. */
  concurrency: number;
  /** Paced: how far ahead slots are reserved and messages claimed (ms); the next claim starts when less than half of it is left. */
  claimAheadMs: number;
  lockTtlMs: number;
  /** Pace of single messages when the account's config has no `rate_per_minute`. */
  singlesRatePerMinute: number;
  /** How long to wait before looking again at an account the gateway calls offline. */
  offlineRecheckMs: number;
  /** Paced sends keep this percentage below the configured rate (SEND_PACING_MARGIN_PCT). */
  pacingMarginPct: number;
  /** Pace from when the gateway counted the previous send, when it says (SEND_PACING_COUNTED_AT); else from its answer. */
  useCountedAt: boolean;
  /** Runs of a process in their start-up (account, orphans, sources, first claim) at once. */
  maxStartingRuns: number;
  /** Paced claims (limits, rows, frequency cap) of a process in flight at once; default 500 (their rows are claimed in batches, one batch in flight). */
  maxConcurrentClaims?: number;
}

export const DEFAULT_SENDER_OPTIONS: SenderOptions = {
  budgetMs: 10_000,
  batchSize: 500,
  concurrency: 16,
  claimAheadMs: 5_000,
  // Short so a killed worker's accounts send again within seconds (renewed every third of it).
  lockTtlMs: 3_000,
  singlesRatePerMinute: 60,
  offlineRecheckMs: 5_000,
  pacingMarginPct: 0,
  useCountedAt: true,
  // Their reads are grouped (one query for the account rows of many, one for their orphans); 500 at once
  // raised the worker's peak JS heap at 10,000 accounts from 340 to 542 MB for no measured gain.
  maxStartingRuns: 64,
};

const SINGLES_RETRY: RetryPolicy = { maxAttempts: 3, backoffMs: 5_000, backoff: 'exponential' };

export type SenderCtx = Pick<AppContext, 'db' | 'redis' | 'gateway' | 'config' | 'logger'> & Partial<Pick<AppContext, 'realtime'>>;

/** What a run shares with every other run of its process. */
export interface SenderDeps {
  ctx: SenderCtx;
  writer: StatusWriter;
  clock: TimerHeap;
  directory: TaskDirectory;
  limits: SendLimits;
  singles: SinglesLookup;
  /** Slots for paced claims, shared by the process's runs (none: unbounded). */
  claims?: Pick<Slots, 'with'>;
  /** Run start-ups' reads, grouped across the process's runs: the account (with its tenant), and whether it has rows in `sending`. */
  accounts: Pick<GroupRead<string, AccountInfo>, 'get'>;
  sending: Pick<GroupRead<string, true>, 'get'>;
  /** Paced claims, grouped across the process's runs. */
  pacedClaims: Pick<ClaimBatcher, 'claim'>;
  /** True once the run must stop: the account's lease may be someone else's, or the process is closing. */
  mustStop(): boolean;
  /** Called (maybe more than once) when the run first waits on the clock or calls the gateway: its start-up is over. */
  settled?(): void;
}

export interface SliceResult {
  sent: number;
  /** Run again after this delay (short waits); long waits are left to the sweeper. */
  continueInMs?: number;
  /** Why the run stopped (diagnostics, tests). */
  reason: 'busy' | 'no_account' | 'offline' | 'drained' | 'budget' | 'window' | 'daily_cap' | 'hourly_cap' | 'risk_paused' | 'lock_lost' | 'waiting_retry' | 'accepted';
}

interface Source {
  taskId: string | null;
  priority: number;
  ratePerMinute: number;
  jitter: number;
  retry: RetryPolicy;
}

export interface AccountInfo {
  id: string;
  tenantId: string;
  guid: string | null;
  status: string;
  config: { rate_per_minute?: number };
  timezone: string;
  maxDaily: number;
  controls: CampaignControls;
  warmingSince: Date | null;
  createdAt: Date;
}

/** A claimed message waiting for its slot. */
interface Queued {
  m: ClaimedMessage;
  at: number;
  interval: number;
}

type Refill = { kind: 'rows' } | { kind: 'wait'; ms: number } | { kind: 'empty' } | { kind: 'capped' } | { kind: 'unthrottled' } | { kind: 'failed'; err: unknown };

/** Where a long wait (daily caps) is looked at again: units another run gave back, or a raised cap, count soon. */
const CAP_RECHECK_MS = 5_000;

export function retryPolicyOf(s: Partial<SendStrategy> | undefined): RetryPolicy {
  return {
    maxAttempts: s?.retry?.max_attempts ?? 3,
    backoffMs: s?.retry?.backoff_ms ?? 5_000,
    backoff: s?.retry?.backoff ?? 'exponential',
  };
}

/** The accounts of `ids` whose tenant is active, with what a run needs of them and of their tenant: one query for many run start-ups. */
export async function loadAccounts(db: SenderCtx['db'], ids: readonly string[]): Promise<Map<string, AccountInfo>> {
  const rows = await db('wework_accounts as a')
    .join('tenants as t', 't.id', 'a.tenant_id')
    .select('a.id', 'a.tenant_id', 'a.guid', 'a.status', 'a.config', 'a.warming_since', 'a.created_at', 't.timezone', 't.max_daily_messages', 't.campaign_controls', 't.status as tenant_status')
    .whereIn('a.id', ids);
  return new Map(rows.filter((r: Record<string, unknown>) => r.tenant_status === 'active').map((r: Record<string, unknown>) => [r.id as string, accountInfo(r)]));
}

function accountInfo(row: Record<string, unknown>): AccountInfo {
  return {
    id: row.id as string,
    tenantId: row.tenant_id as string,
    guid: row.guid as string | null,
    status: row.status as string,
    config: parseJson(row.config, {}),
    timezone: row.timezone as string,
    maxDaily: row.max_daily_messages as number,
    controls: controlsOf(parseJson(row.campaign_controls, null)),
    warmingSince: (row.warming_since as Date | null) ?? null,
    createdAt: row.created_at as Date,
  };
}

/** One run over the account; the caller holds the account's lease for its whole duration. */
export async function runAccount(deps: SenderDeps, accountId: string, opts: SenderOptions = DEFAULT_SENDER_OPTIONS, notBefore = Date.now()): Promise<SliceResult> {
  const { ctx } = deps;
  if (deps.mustStop()) return { sent: 0, reason: 'lock_lost' };
  await ctx.redis.del(keys.sleep(ctx.config.redis, accountId));
  const account = (await deps.accounts.get(accountId)) ?? null;
  // Gone, or its tenant suspended: its messages wait; the sweeper looks again in a minute.
  if (!account) return idle(ctx, accountId, 'no_account', 60_000);
  if (account.status !== 'online' || !account.guid) return idle(ctx, accountId, 'offline', opts.offlineRecheckMs);
  return new AccountRun(deps, account, opts, notBefore).run();
}

/** Marks the account as waiting so the sweeper leaves it alone until `ms` passed. */
async function idle(ctx: SenderCtx, accountId: string, reason: SliceResult['reason'], ms: number): Promise<SliceResult> {
  await ctx.redis.set(keys.sleep(ctx.config.redis, accountId), reason, 'PX', Math.max(1000, Math.min(ms, 60_000)));
  return { sent: 0, reason };
}

class AccountRun {
  private sent = 0;
  private offline = false;
  /** After a rate-limited answer, sends already claimed go back to pending untried until then. */
  private rateLimitedUntil = 0;
  /** When this run last sent a paced message (ms). */
  private lastPacedSend = 0;
  /** By when the gateway surely counted the last send that reached it (its `counted_at`, else its answer; ms). */
  private lastCounted = 0;
  private readonly r;
  private readonly ctx: SenderCtx;
  private readonly clock: Pick<TimerHeap, 'sleep' | 'sleepUntil'>;
  private readonly writer: StatusWriter;
  private readonly strategies = new Map<string, RetryPolicy>();
  /**
   * Results handed to the writer and not yet durable; the run ends only when they are. Each leaves the
   * set once written, so a paced run that lives for hours holds only the few still in flight (an array
   * drained at 500 kept up to 500 settled promises per account: 10,000 accounts, millions).
   */
  private readonly inFlightWrites = new Set<Promise<void>>();
  /** The first result the writer could not write (closed): thrown by the next drain. */
  private writeFailure: { err: unknown } | null = null;
  private sources: Source[] = [];
  private sourcesAt = 0;
  private closedWaitMs = Number.POSITIVE_INFINITY;
  private readonly exhausted = new Set<string | null>();
  /** The limit that ended the last claim with nothing (and how long it holds, when known). */
  private lastCap: { kind: CapKind; waitMs: number } | null = null;
  private readonly risk: RiskWatch;
  private readonly frequency: FrequencyCapCounter | null;
  /** Frequency-cap units held by claimed messages (message id → counter keys), until their outcome. */
  private readonly frequencyHeld = new Map<string, string[]>();
  private frequencyRelease: string[] = [];

  constructor(
    private readonly deps: SenderDeps,
    private readonly account: AccountInfo,
    private readonly opts: SenderOptions,
    /** The run was asked for at this time: its first read of the account's tasks is at least as new. */
    private readonly notBefore: number,
  ) {
    this.ctx = deps.ctx;
    const clock = deps.clock;
    // The first wait ends the run's start-up (see SenderDeps.settled).
    this.clock = {
      sleep: (ms) => (deps.settled?.(), clock.sleep(ms)),
      sleepUntil: (at) => (deps.settled?.(), clock.sleepUntil(at)),
    };
    this.writer = deps.writer;
    this.r = senderRedis(deps.ctx.redis);
    this.risk = new RiskWatch(deps.ctx, account, account.controls.risk_pause, () => this.sources.map((s) => s.taskId).filter((t): t is string => t !== null));
    this.frequency = account.controls.frequency_cap ? new FrequencyCapCounter(deps.ctx.redis, deps.ctx.config.redis) : null;
  }

  private get prefix() {
    return this.ctx.config.redis.prefix;
  }

  private get limitKeys(): LimitKeys {
    const now = new Date();
    const day = capDay(now, this.account.timezone);
    return {
      tat: keys.throttle(this.ctx.config.redis, this.account.id),
      cap: keys.cap(this.prefix, this.account.tenantId, day),
      accountHour: keys.accountHour(this.ctx.config.redis, this.account.id, capHour(now, this.account.timezone)),
      accountDay: keys.accountDay(this.ctx.config.redis, this.account.id, day),
      riskPause: keys.riskPause(this.ctx.config.redis, this.account.id),
    };
  }

  /** The caps a reservation checks now: the tenant's day, the account's hour and day (warm-up applied). */
  private capParams() {
    const now = new Date();
    const a = this.account;
    return {
      dailyCap: a.maxDaily,
      accountHourlyCap: a.controls.account_hourly_cap ?? 0,
      accountDailyCap: accountDailyCap(a.controls, { warming_since: a.warmingSince, created_at: a.createdAt }, a.maxDaily, now, a.timezone),
      msUntilNextHour: msUntilNextLocalHour(now, a.timezone),
    };
  }

  private stopping(): boolean {
    return this.deps.mustStop() || this.offline || this.risk.paused;
  }

  async run(): Promise<SliceResult> {
    try {
      return await this.work();
    } finally {
      // Nothing this run sent may stay unrecorded when the account's lease is released.
      await this.drainWrites(0);
    }
  }

  /** Waits until at most `max` result writes are outstanding (writes overlap the next claim and sends). */
  private async drainWrites(max: number): Promise<void> {
    this.flushFrequencyRelease();
    if (this.inFlightWrites.size > max) await Promise.all([...this.inFlightWrites]);
    if (this.writeFailure) throw this.writeFailure.err;
  }

  private async work(): Promise<SliceResult> {
    await this.risk.load();
    // 1. Orphans: claimed by a sender that died before recording the outcome (asked for many runs at once;
    // an account without any, nearly all, skips the pass).
    for (let orphansLeft = (await this.deps.sending.get(this.account.id)) === true; orphansLeft; ) {
      if (this.deps.mustStop()) return { sent: this.sent, reason: 'lock_lost' };
      const orphans = await orphanedSending(this.ctx.db, this.account.id, this.opts.batchSize);
      orphansLeft = orphans.length > 0;
      if (!orphansLeft) break;
      const rate = await this.orphanRate(orphans);
      await this.sendOrphans(orphans, rate);
      if (this.offline) return idle(this.ctx, this.account.id, 'offline', this.opts.offlineRecheckMs);
    }

    // 2. Fresh work, highest priority first.
    for (;;) {
      if (this.deps.mustStop()) return { sent: this.sent, reason: 'lock_lost' };
      const source = await this.topSource();
      if (!source) break;
      const outcome = pacedIntervalMs(source.ratePerMinute, this.opts.pacingMarginPct) > 0 ? await this.pacedRun() : await this.unthrottledRun(source);
      if (this.offline) return idle(this.ctx, this.account.id, 'offline', this.opts.offlineRecheckMs);
      if (this.risk.paused) return idle(this.ctx, this.account.id, 'risk_paused', this.account.controls.risk_pause!.cooldown_seconds * 1000);
      if (outcome === 'capped') return this.cappedIdle();
      if (outcome === 'budget') return { sent: this.sent, continueInMs: 0, reason: 'budget' };
    }

    // 3. Nothing claimable now: say when to look again.
    const tasks = this.sources.flatMap((src) => (src.taskId ? [src.taskId] : []));
    const next = await nextScheduledAt(this.ctx.db, this.account.id, tasks);
    const retryWait = next ? Math.max(0, next.getTime() - Date.now()) : Number.POSITIVE_INFINITY;
    if (Number.isFinite(this.closedWaitMs) && this.closedWaitMs < retryWait) return idle(this.ctx, this.account.id, 'window', this.closedWaitMs);
    if (Number.isFinite(retryWait)) {
      if (retryWait <= 30_000) return { sent: this.sent, continueInMs: retryWait + 50, reason: 'waiting_retry' };
      return idle(this.ctx, this.account.id, 'waiting_retry', retryWait);
    }
    return { sent: this.sent, reason: 'drained' };
  }

  /**
   * A cap or pause left nothing. Daily caps are looked at again soon rather than at midnight only:
   * units taken by another run and not used are given back, and an administrator may raise the cap.
   * An hourly cap and a risk pause know when they end (the sweeper wakes the account after at most a minute).
   */
  private cappedIdle(): Promise<SliceResult> {
    const cap = this.lastCap ?? { kind: 'tenant_daily' as const, waitMs: 0 };
    const id = this.account.id;
    if (cap.kind === 'risk_paused') return idle(this.ctx, id, 'risk_paused', cap.waitMs);
    if (cap.kind === 'account_hourly') return idle(this.ctx, id, 'hourly_cap', Math.min(cap.waitMs, CAP_RECHECK_MS));
    return idle(this.ctx, id, 'daily_cap', Math.min(msUntilNextLocalDay(new Date(), this.account.timezone), CAP_RECHECK_MS));
  }

  /** The highest-priority source with an open window not found empty since the sources were last read. */
  private async topSource(): Promise<Source | undefined> {
    if (Date.now() - this.sourcesAt > 2_000) {
      await this.loadSources();
      this.sourcesAt = Date.now();
      this.exhausted.clear();
    }
    return this.sources.find((s) => !this.exhausted.has(s.taskId));
  }

  private async loadSources(): Promise<void> {
    const now = new Date();
    // The first read of a run is at least as new as the run (so as the kick that asked for it).
    const tasks = await this.deps.directory.runningTasksOf(this.account.tenantId, this.account.id, this.sourcesAt ? 0 : this.notBefore);
    const sources: Source[] = [];
    let closedWaitMs = Number.POSITIVE_INFINITY;
    for (const t of tasks) {
      const s = t.strategy;
      this.strategies.set(t.id, retryPolicyOf(s));
      if (!isWithinWindow(s.window, now, this.account.timezone)) {
        closedWaitMs = Math.min(closedWaitMs, msUntilWindowOpens(s.window, now, this.account.timezone));
        continue;
      }
      sources.push({ taskId: t.id, priority: t.priority, ratePerMinute: s.rate_per_minute ?? 0, jitter: s.jitter ?? 0, retry: retryPolicyOf(s) });
    }
    const singles = await this.deps.singles.priority(this.account.id);
    if (singles !== null) {
      sources.push({ taskId: null, priority: singles, ratePerMinute: this.singlesRate(), jitter: 0, retry: SINGLES_RETRY });
    }
    sources.sort((a, b) => b.priority - a.priority);
    this.sources = sources;
    this.closedWaitMs = closedWaitMs;
  }

  private singlesRate(): number {
    const r = Number(this.account.config.rate_per_minute);
    return Number.isFinite(r) && r >= 0 ? r : this.opts.singlesRatePerMinute;
  }

  private async orphanRate(orphans: ClaimedMessage[]): Promise<number> {
    const taskId = orphans[0].batch_id;
    if (!taskId) return this.singlesRate();
    const t = await getTask(this.ctx.db, taskId);
    if (t) this.strategies.set(taskId, retryPolicyOf(t.send_strategy));
    return t?.send_strategy.rate_per_minute ?? 0;
  }

  /**
   * Paced sending across the paced sources, claimed ahead: a queue of claimed messages, each with its
   * slot, is sent slot by slot while the next claim (taken when less than half of `claimAheadMs` is
   * queued) is in flight, so database and Redis latency never comes out of the account's rate. Ends
   * when no paced source has due work, the cap is reached, an unthrottled source comes first, or the run
   * must stop; what is queued and unsent then goes back to pending with its cap units and slots.
   */
  private async pacedRun(): Promise<'empty' | 'capped' | 'unthrottled' | 'stopped'> {
    const queue: Queued[] = [];
    let refill: Promise<Refill> | null = null;
    let last: Refill | null = null;
    const terminal = () => last !== null && (last.kind === 'empty' || last.kind === 'capped' || last.kind === 'unthrottled');
    const half = this.opts.claimAheadMs / 2;
    try {
      for (;;) {
        if (this.stopping()) break;
        const queuedUntil = queue.length ? queue[queue.length - 1].at : 0;
        // A claim runs while sends go on, so it must never reject unobserved: a failure is a value, thrown where awaited.
        // Claims wait for one of the process's claim slots: 10,000 accounts queue as callbacks, not queries.
        if (!refill && !terminal() && queuedUntil - Date.now() < half) refill = this.withClaimSlot(() => this.refillPaced(queue)).catch((err: unknown): Refill => ({ kind: 'failed', err }));
        if (!queue.length) {
          if (!refill) break;
          last = await refill;
          refill = null;
          if (last.kind === 'failed') throw last.err;
          if (last.kind === 'wait') {
            // The account's next slot is beyond the claim-ahead horizon (a slow pace, another process's
            // reservation, a back-off): sleep until it is within, rather than asking Redis again and again.
            await this.clock.sleep(Math.min(last.ms, 60_000));
            last = null;
          }
          continue;
        }
        const item = queue[0];
        // The status lookup comes before the wait, so nothing stands between the paced instant and the call.
        let status = await this.statusFor(item.m, false);
        const due = pacedSendDue({ slotAt: item.at, lastDispatch: this.lastPacedSend, lastCounted: this.lastCounted, intervalMs: item.interval, marginPct: this.opts.pacingMarginPct });
        const at = due.at;
        if (status === 'running' && at - Date.now() > 2_000) {
          // A long wait (a slow pace): look at the status again a second before the slot, so a pause or
          // cancel meanwhile counts and the lookup's latency never stands between the slot and the call.
          while (Date.now() < at - 1_000 && !this.stopping()) await this.clock.sleepUntil(at - 1_000);
          if (this.stopping()) break;
          status = await this.statusFor(item.m, false);
        }
        if (status === 'running') {
          // Never early: the shared timer may be woken for shutdown, and may fire a millisecond before `at`.
          while (Date.now() < at && !this.stopping()) await this.clock.sleepUntil(at);
          if (this.stopping()) break;
        }
        queue.shift();
        const paced = status === 'running';
        if (paced) {
          const previous = this.lastPacedSend;
          this.lastPacedSend = Date.now();
          this.lastInterval = item.interval;
          recordPacedSend(item.at, at, this.lastPacedSend);
          if (previous) recordPacedGap({ gapMs: this.lastPacedSend - previous, intervalMs: item.interval, countPushMs: due.countPushMs, slotPushMs: due.slotPushMs, wakeMs: this.lastPacedSend - at });
        }
        await this.sendAndRecord(item.m, false, status);
        if (paced) recordPacedAnswer(Date.now() - this.lastPacedSend);
        if (Date.now() < this.rateLimitedUntil) {
          // The gateway knows better: everything queued goes back untried; the next claim starts after its wait.
          await this.release(queue.splice(0));
          if (refill) await refill; // a failed claim shows again at the next one
          // Units back; slots not: the back-off just moved the schedule past them.
          await this.release(queue.splice(0), false);
          refill = null;
          last = null;
          await this.clock.sleepUntil(this.rateLimitedUntil);
        }
        if (this.inFlightWrites.size > this.opts.batchSize) await this.drainWrites(this.opts.batchSize / 2);
      }
    } catch (err) {
      // MySQL or Redis did not answer: what is claimed and unsent goes back to pending, then the run fails.
      if (refill) await refill;
      await this.release(queue.splice(0));
      throw err;
    }
    if (refill) last = await refill;
    await this.release(queue.splice(0));
    await this.keepScheduleBehind();
    if (this.stopping()) return 'stopped';
    return last && (last.kind === 'capped' || last.kind === 'unthrottled') ? last.kind : 'empty';
  }

  /** Runs a claim on one of the process's claim slots; a claim whose turn comes once the run must stop claims nothing (shutdown lets every waiter through at once). */
  private withClaimSlot(fn: () => Promise<Refill>): Promise<Refill> {
    const claim = () => (this.stopping() ? Promise.resolve<Refill>({ kind: 'empty' }) : fn());
    return this.deps.claims ? this.deps.claims.with(claim) : claim();
  }

  /**
   * One claim ahead for the top paced source: cap units and GCRA slots in one Redis call, then the rows.
   * Slot times are offsets from the Redis answer, so a slow claim delays a send but never squeezes two
   * closer than the interval. Unused units and slots are given back.
   */
  private async refillPaced(queue: Queued[]): Promise<Refill> {
    const source = await this.topSource();
    if (!source) return { kind: 'empty' };
    const base = pacedIntervalMs(source.ratePerMinute, this.opts.pacingMarginPct);
    if (base <= 0) return { kind: 'unthrottled' };
    const interval = jitteredInterval(base, source.jitter, Math.random());
    const lk = this.limitKeys;
    const want = Math.max(1, Math.min(this.opts.batchSize, Math.ceil(this.opts.claimAheadMs / interval)));
    const res = await this.deps.limits.reserve(lk, { intervalMs: interval, want, horizonMs: this.opts.claimAheadMs, ...this.capParams() });
    const answeredAt = Date.now();
    if (res.capped) {
      this.lastCap = { kind: res.capped, waitMs: res.waitMs };
      return { kind: 'capped' };
    }
    if (res.granted <= 0) return { kind: 'wait', ms: Math.max(1, res.waitMs) };
    const claimed = await this.deps.pacedClaims.claim({ accountId: this.account.id, taskId: source.taskId, limit: res.granted });
    const rows = await this.frequencyCapped(claimed);
    await this.deps.limits.giveBack(lk, res.granted - rows.length, res, interval);
    if (!claimed.length) {
      this.exhausted.add(source.taskId);
      return { kind: 'rows' };
    }
    if (!rows.length) return { kind: 'rows' };
    for (const m of rows) if (m.batch_id) this.strategies.set(m.batch_id, source.retry);
    rows.forEach((m, i) => queue.push({ m, at: answeredAt + res.firstOffsetMs + i * interval, interval }));
    return { kind: 'rows' };
  }

  /** Claimed messages never tried go back to pending, with their cap units; their slots when still last. */
  private async release(items: Queued[], slotsToo = true): Promise<void> {
    if (!items.length) return;
    for (const q of items) this.record(q.m, { kind: 'requeue' });
    try {
      const tat = slotsToo ? await this.ctx.redis.get(this.limitKeys.tat) : null;
      await this.deps.limits.giveBack(this.limitKeys, items.length, { nextTat: tat ?? '' }, items[0].interval);
    } catch {
      // Redis away: the units and slots stay taken (less sent today, never more).
    }
  }

  /** Keeps the shared schedule (a successor run, another process) behind what actually went out. */
  private async keepScheduleBehind(): Promise<void> {
    if (!this.lastPacedSend || !this.lastInterval) return;
    const next = nextPacedSendAt({ slotAt: 0, lastDispatch: this.lastPacedSend, lastCounted: this.lastCounted, intervalMs: this.lastInterval, marginPct: this.opts.pacingMarginPct });
    if (next > Date.now()) await this.r.wwpThrottleBackoff(keys.throttle(this.ctx.config.redis, this.account.id), Math.ceil(next - Date.now())).catch(() => undefined);
  }

  /** The interval of the last paced send. */
  private lastInterval = 0;

  /** Cap units and rows for an unthrottled batch (cap units not matched by rows are given back). */
  private async claimUnthrottled(source: Source): Promise<ClaimedMessage[] | 'capped'> {
    const lk = this.limitKeys;
    const res = await this.deps.limits.reserve(lk, { intervalMs: 0, want: this.opts.batchSize, horizonMs: 0, ...this.capParams() });
    if (res.capped) {
      this.lastCap = { kind: res.capped, waitMs: res.waitMs };
      return 'capped';
    }
    const claimed = await claimMessages(this.ctx.db, this.account.id, source.taskId, res.granted);
    const rows = await this.frequencyCapped(claimed);
    await this.deps.limits.giveBack(lk, res.granted - rows.length, res, 0);
    // All capped is not the end of the source: claim again (an empty claim ends it).
    return claimed.length && !rows.length ? this.claimUnthrottled(source) : rows;
  }

  /**
   * Unthrottled source: `concurrency` lanes pull from one queue that a claimer refills (a batch at a
   * time) when it runs low, so database round trips overlap gateway calls and no lane waits for a
   * batch to finish. Stops claiming after `budgetMs` (to look at the sources again) or when the run must
   * stop; whatever was claimed is still sent (or set back) before returning.
   */
  private async unthrottledRun(source: Source): Promise<'empty' | 'capped' | 'budget'> {
    const until = Date.now() + this.opts.budgetMs;
    const queue: ClaimedMessage[] = [];
    let exhausted = false;
    let capped = false;
    let refilling: Promise<void> | null = null;
    let failed: { err: unknown } | null = null;
    const stopping = () => Date.now() >= until || this.stopping() || failed !== null;
    const refill = async () => {
      const rows = await this.claimUnthrottled(source);
      if (rows === 'capped') {
        capped = true;
        exhausted = true;
      } else if (!rows.length) {
        exhausted = true;
      } else {
        for (const m of rows) if (m.batch_id) this.strategies.set(m.batch_id, source.retry);
        queue.push(...rows);
      }
    };
    const ensure = () => {
      if (!refilling && !exhausted && !stopping() && queue.length < this.opts.batchSize / 2) {
        // Never rejects (lanes may not be awaiting it): a failure stops the claiming and is thrown below.
        refilling = refill()
          .catch((err: unknown) => {
            failed ??= { err };
          })
          .finally(() => {
            refilling = null;
          });
      }
      return refilling;
    };
    const lane = async () => {
      while (!failed) {
        const pending = ensure();
        const m = queue.shift();
        if (!m) {
          if (pending) {
            await pending;
            continue;
          }
          return;
        }
        try {
          await this.sendAndRecord(m, false);
          if (this.inFlightWrites.size > 2 * this.opts.batchSize) await this.drainWrites(this.opts.batchSize);
        } catch (err) {
          failed ??= { err };
        }
      }
    };
    // Every lane returns before this does (no lane may outlive the run, which releases the account).
    await Promise.all(Array.from({ length: this.opts.concurrency }, lane));
    if (refilling) await refilling;
    if (failed) {
      // Claimed and never sent: back to pending (the writer keeps them until MySQL answers).
      for (const m of queue.splice(0)) this.record(m, { kind: 'requeue' });
      throw (failed as { err: unknown }).err;
    }
    if (exhausted) this.exhausted.add(source.taskId);
    if (capped) return 'capped';
    return exhausted ? 'empty' : 'budget';
  }

  /** One message: skipped (offline, rate limited, task stopped) or sent; the result goes to the writer. */
  private async sendAndRecord(m: ClaimedMessage, orphan: boolean, knownStatus?: string): Promise<void> {
    let stopped: string;
    try {
      stopped = knownStatus ?? (await this.statusFor(m, orphan));
    } catch (err) {
      // MySQL did not answer: not sent, so back to pending rather than left to the orphan pass.
      this.record(m, { kind: 'requeue' });
      throw err;
    }
    const skip = this.offline || this.risk.paused || Date.now() < this.rateLimitedUntil;
    const outcome: SendOutcome =
      stopped === 'cancelled' || stopped === 'failed' ? { kind: 'cancelled' } : stopped === 'paused' ? { kind: 'held' } : skip ? { kind: 'requeue' } : await this.sendOne(m);
    if (outcome.kind === 'sent') this.sent += 1;
    this.record(m, outcome);
  }

  private record(m: ClaimedMessage, outcome: SendOutcome): void {
    const held = this.frequencyHeld.get(m.id);
    if (held) {
      this.frequencyHeld.delete(m.id);
      // Only a send that went out (or may have) keeps its unit; a later attempt takes one again.
      if (outcome.kind !== 'sent' && outcome.kind !== 'unknown') {
        this.frequencyRelease.push(...held);
        if (this.frequencyRelease.length >= 256) this.flushFrequencyRelease();
      }
    }
    // Owned here: a rejection (writer closed) is kept and thrown by the next drain, never unhandled.
    this.track(
      this.writer.record({ id: m.id, createdAt: m.created_at, taskId: m.batch_id, tenantId: m.tenant_id, outcome }).catch((err: unknown) => {
        this.writeFailure ??= { err };
      }),
    );
  }

  /** Keeps `p` in the in-flight set until it settles (it must not reject). */
  private track(p: Promise<void>): void {
    const tracked: Promise<void> = p.finally(() => this.inFlightWrites.delete(tracked));
    this.inFlightWrites.add(tracked);
  }

  /**
   * Applies the recipient frequency cap to freshly claimed campaign messages: those over the cap end
   * `skipped` (reason frequency_capped) without a send; the others hold a unit until their outcome.
   */
  private async frequencyCapped(rows: ClaimedMessage[]): Promise<ClaimedMessage[]> {
    const cap = this.account.controls.frequency_cap;
    if (!this.frequency || !cap) return rows;
    const campaign = rows.filter((m) => m.batch_id);
    if (!campaign.length) return rows;
    let taken;
    try {
      taken = await this.frequency.take(this.account.tenantId, cap, this.account.timezone, campaign.map((m) => m.conversation_id));
    } catch (err) {
      for (const m of rows) this.record(m, { kind: 'requeue' });
      throw err;
    }
    const capped = new Set<string>();
    campaign.forEach((m, i) => {
      const k = taken.counted[i];
      if (k) {
        if (k.length) this.frequencyHeld.set(m.id, k);
      } else {
        capped.add(m.id);
        this.record(m, { kind: 'skipped', reason: 'frequency_capped', message: `the recipient reached the frequency cap (${taken.rule})` });
      }
    });
    return capped.size ? rows.filter((m) => !capped.has(m.id)) : rows;
  }

  /** Gives back the units of messages that did not go out (one Redis call for many; owned by the write list). */
  private flushFrequencyRelease(): void {
    if (!this.frequency || !this.frequencyRelease.length) return;
    const keysBack = this.frequencyRelease;
    this.frequencyRelease = [];
    this.track(
      this.frequency.giveBack(keysBack).catch((err: unknown) => {
        // Redis away: those units stay taken (a recipient gets fewer messages today, never more).
        this.ctx.logger.warn({ err: (err as Error).message, accountId: this.account.id }, 'frequency cap units not given back');
      }),
    );
  }

  /** The task status deciding whether `m` may go out; an orphan may already have been delivered, so it is always re-sent (same key) to learn the truth. */
  private statusFor(m: ClaimedMessage, orphan: boolean): Promise<string> {
    return m.batch_id && !orphan ? this.deps.directory.status(m.batch_id) : Promise.resolve('running');
  }

  /** Orphans: re-sent at their task's pace (slots reserved like fresh ones, no cap: counted when first claimed). */
  private async sendOrphans(rows: ClaimedMessage[], rate: number): Promise<void> {
    const iv = pacedIntervalMs(rate, this.opts.pacingMarginPct);
    if (iv <= 0) {
      let next = 0;
      let failure: { err: unknown } | null = null;
      const lane = async () => {
        while (next < rows.length && !failure) {
          try {
            await this.sendAndRecord(rows[next++], true);
          } catch (err) {
            failure ??= { err };
          }
        }
      };
      // Every lane returns before this does; the first error is rethrown after (no lane outlives the run).
      await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, rows.length) }, lane));
      if (failure) {
        for (const m of rows.slice(next)) this.record(m, { kind: 'requeue' });
        throw (failure as { err: unknown }).err;
      }
    } else {
      const tatKey = keys.throttle(this.ctx.config.redis, this.account.id);
      const [granted, offset, waitMs] = await this.r.wwpThrottleReserve(tatKey, iv, rows.length, Math.max(this.opts.claimAheadMs, rows.length * iv));
      const start = Date.now();
      if (Number(granted) <= 0) await this.clock.sleep(Number(waitMs));
      this.lastInterval = iv;
      for (let i = 0; i < rows.length; i += 1) {
        const at = nextPacedSendAt({ slotAt: start + Number(offset) + i * iv, lastDispatch: this.lastPacedSend, lastCounted: this.lastCounted, intervalMs: iv, marginPct: this.opts.pacingMarginPct });
        while (Date.now() < at && !this.deps.mustStop()) await this.clock.sleepUntil(at);
        if (this.deps.mustStop()) break; // left in `sending`: the next holder re-sends them
        this.lastPacedSend = Date.now();
        await this.sendAndRecord(rows[i], true, 'running');
      }
      await this.keepScheduleBehind();
    }
    await this.drainWrites(this.opts.batchSize);
  }

  private async sendOne(m: ClaimedMessage): Promise<SendOutcome> {
    this.deps.settled?.();
    try {
      const res = await this.ctx.gateway.sendMessage({
        guid: this.account.guid!,
        conversationId: m.conversation_id,
        content: m.content as unknown as MessageContent,
        idempotencyKey: m.id,
      }).finally(() => {
        // Whatever the answer, the gateway counted the send (if at all) before it answered.
        this.lastCounted = Date.now();
      });
      // A gateway saying when it counted lets the next send go an interval after that, not after the
      // answer: the way back and this event loop's lag no longer come out of the rate.
      if (res.countedBy !== undefined && this.opts.useCountedAt) this.lastCounted = Math.min(this.lastCounted, res.countedBy);
      await this.risk.success();
      return { kind: 'sent', gatewayMessageId: res.gatewayMessageId };
    } catch (err) {
      const kind = isGatewayError(err) ? err.kind : 'retryable';
      const code = isGatewayError(err) ? err.code : 'internal_error';
      const message = (err as Error).message ?? String(err);
      // A gateway nothing answers at (killed, restarting) makes the account's messages wait like an
      // offline account's: no attempt spent, no error streak (a gateway restart would pause every task),
      // and no storm of requests at it. A request it may have taken goes again with its key.
      if (kind === 'account_offline' || isGatewayUnreachable(err)) {
        this.offline = true;
        return { kind: 'requeue' };
      }
      if (this.risk.enabled && isRiskAnswer(this.account.controls.risk_pause!, kind, code)) {
        // The account, not the message, is at fault: the message waits; enough of these in a row pause the account.
        await this.risk.answer(code);
        if (kind !== 'rate_limited') return { kind: 'requeue' };
      }
      if (kind === 'rate_limited') {
        // The gateway knows better: nothing for this account before its retry-after.
        const wait = isGatewayError(err) && err.retryAfterMs !== undefined ? err.retryAfterMs : 1000;
        this.rateLimitedUntil = Date.now() + wait;
        await this.r.wwpThrottleBackoff(keys.throttle(this.ctx.config.redis, this.account.id), wait).catch(() => undefined);
        return { kind: 'requeue' };
      }
      if (kind === 'permanent') return { kind: 'failed', errorCode: code, errorMessage: message };
      if (kind === 'outcome_unknown') return { kind: 'unknown', errorCode: code, errorMessage: message };
      const policy = (m.batch_id && this.strategies.get(m.batch_id)) || SINGLES_RETRY;
      const attempt = m.retry_count + 1;
      if (shouldRetry(policy, attempt)) {
        return { kind: 'retry', retryAt: new Date(Date.now() + retryDelayMs(policy, attempt)), errorCode: code, errorMessage: message };
      }
      return { kind: 'failed', errorCode: code, errorMessage: `${message} (after ${attempt} attempts)` };
    }
  }
}
