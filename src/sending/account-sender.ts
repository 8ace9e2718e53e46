import type { AppContext } from '../context';
import { claimMessages, nextScheduledAt, orphanedSending, singlesPriority, type ClaimedMessage } from '../db/messages';
import { parseJson } from '../db/json';
import { getTask, runningTasksOfAccount, type SendStrategy } from '../db/tasks';
import {
  capDay,
  isWithinWindow,
  nextPacedSendAt,
  pacedIntervalMs,
  jitteredInterval,
  msUntilNextLocalDay,
  msUntilWindowOpens,
  retryDelayMs,
  shouldRetry,
  type RetryPolicy,
} from '../domain/throttle';
import { isGatewayError } from '../gateway/errors';
import type { MessageContent } from '../gateway/types';
import { acquireLock, keys, senderRedis } from './redis-scripts';
import type { SendOutcome } from './send-outcome';
import type { StatusWriter } from './status-writer';

/**
 * The per-account sender: one "slice" of work on one account, run by a message-send job. Only the
 * holder of the account's Redis lock sends for that account, so an account's pace, its offline state
 * and its slowness concern its own slice only; other accounts' slices run in parallel jobs.
 *
 * A slice: re-sends what a dead sender left in `sending` (same idempotency key: the gateway dedupes),
 * then repeatedly picks the highest-priority source with an open window (running tasks using this
 * account, or single messages), takes daily-cap units and GCRA slots in Redis, claims that many
 * messages (pending → sending), sends each at its slot, and hands results to the batched status writer.
 */
export interface SenderOptions {
  /** How long one slice may run before handing over (ms). */
  budgetMs: number;
  /** Messages claimed at most per step. */
  batchSize: number;
  /** Parallel gateway calls per account when unthrottled. */
  concurrency: number;
  /** How far ahead GCRA slots may be reserved (ms). */
  horizonMs: number;
  lockTtlMs: number;
  /** Pace of single messages when the account's config has no `rate_per_minute`. */
  singlesRatePerMinute: number;
  /** How long to wait before looking again at an account the gateway calls offline. */
  offlineRecheckMs: number;
  /** Paced sends keep this percentage below the configured rate (SEND_PACING_MARGIN_PCT). */
  pacingMarginPct: number;
}

export const DEFAULT_SENDER_OPTIONS: SenderOptions = {
  budgetMs: 10_000,
  batchSize: 500,
  concurrency: 16,
  horizonMs: 1_000,
  // Short so a killed worker's accounts send again within seconds (renewed every third of it).
  lockTtlMs: 3_000,
  singlesRatePerMinute: 60,
  offlineRecheckMs: 5_000,
  pacingMarginPct: 2,
};

const SINGLES_RETRY: RetryPolicy = { maxAttempts: 3, backoffMs: 5_000, backoff: 'exponential' };

export type SenderCtx = Pick<AppContext, 'db' | 'redis' | 'gateway' | 'config' | 'logger'>;

export interface SliceResult {
  sent: number;
  /** Run another slice after this delay (short waits); long waits are left to the sweeper. */
  continueInMs?: number;
  /** Why the slice stopped (diagnostics, tests). */
  reason: 'busy' | 'no_account' | 'offline' | 'drained' | 'budget' | 'window' | 'daily_cap' | 'lock_lost' | 'waiting_retry';
}

interface Source {
  taskId: string | null;
  priority: number;
  ratePerMinute: number;
  jitter: number;
  retry: RetryPolicy;
}

interface AccountInfo {
  id: string;
  tenantId: string;
  guid: string | null;
  status: string;
  config: { rate_per_minute?: number };
  timezone: string;
  maxDaily: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

export function retryPolicyOf(s: Partial<SendStrategy> | undefined): RetryPolicy {
  return {
    maxAttempts: s?.retry?.max_attempts ?? 3,
    backoffMs: s?.retry?.backoff_ms ?? 5_000,
    backoff: s?.retry?.backoff ?? 'exponential',
  };
}

async function loadAccount(ctx: SenderCtx, accountId: string): Promise<AccountInfo | null> {
  const row = await ctx.db('wework_accounts as a')
    .join('tenants as t', 't.id', 'a.tenant_id')
    .select('a.id', 'a.tenant_id', 'a.guid', 'a.status', 'a.config', 't.timezone', 't.max_daily_messages', 't.status as tenant_status')
    .where('a.id', accountId)
    .first();
  if (!row || row.tenant_status !== 'active') return null;
  return {
    id: row.id,
    tenantId: row.tenant_id,
    guid: row.guid,
    status: row.status,
    config: parseJson(row.config, {}),
    timezone: row.timezone,
    maxDaily: row.max_daily_messages,
  };
}

export async function runAccountSlice(ctx: SenderCtx, writer: StatusWriter, accountId: string, opts: SenderOptions = DEFAULT_SENDER_OPTIONS): Promise<SliceResult> {
  const prefix = ctx.config.redis.prefix;
  const lock = await acquireLock(ctx.redis, keys.accountLock(prefix, accountId), opts.lockTtlMs);
  if (!lock) return { sent: 0, reason: 'busy' };
  try {
    await ctx.redis.del(keys.sleep(prefix, accountId));
    const account = await loadAccount(ctx, accountId);
    // Gone, or its tenant suspended: its messages wait; the sweeper looks again in a minute.
    if (!account) return await idle(ctx, accountId, 'no_account', 60_000);
    if (account.status !== 'online' || !account.guid) return await idle(ctx, accountId, 'offline', opts.offlineRecheckMs);
    return await new Slice(ctx, writer, account, opts, () => lock.lost).run();
  } finally {
    await lock.release();
  }
}

/** Marks the account as waiting so the sweeper leaves it alone until `ms` passed. */
async function idle(ctx: SenderCtx, accountId: string, reason: SliceResult['reason'], ms: number): Promise<SliceResult> {
  await ctx.redis.set(keys.sleep(ctx.config.redis.prefix, accountId), reason, 'PX', Math.max(1000, Math.min(ms, 60_000)));
  return { sent: 0, reason };
}

class Slice {
  private readonly started = Date.now();
  private sent = 0;
  private offline = false;
  /** After a rate-limited answer, sends already scheduled in this step go back to pending untried. */
  private rateLimitedUntil = 0;
  /** When this slice last sent a paced message, and when its answer came back (ms). */
  private lastPacedSend = 0;
  private lastPacedAnswer = 0;
  private readonly r;
  private readonly strategies = new Map<string, RetryPolicy>();
  /** Results handed to the writer and not yet durable; the slice ends only when they are. */
  private inFlightWrites: Promise<void>[] = [];

  constructor(
    private readonly ctx: SenderCtx,
    private readonly writer: StatusWriter,
    private readonly account: AccountInfo,
    private readonly opts: SenderOptions,
    private readonly lockLost: () => boolean,
  ) {
    this.r = senderRedis(ctx.redis);
  }

  private get prefix() {
    return this.ctx.config.redis.prefix;
  }

  private outOfTime() {
    return Date.now() - this.started >= this.opts.budgetMs;
  }

  async run(): Promise<SliceResult> {
    try {
      return await this.work();
    } finally {
      // Nothing this slice sent may stay unrecorded when the account lock is released.
      await this.drainWrites(0);
    }
  }

  /** Waits until at most `max` result writes are outstanding (writes overlap the next claim and sends). */
  private async drainWrites(max: number): Promise<void> {
    if (this.inFlightWrites.length <= max) return;
    const all = this.inFlightWrites;
    this.inFlightWrites = [];
    await Promise.all(all);
  }

  private async work(): Promise<SliceResult> {
    // 1. Orphans: claimed by a sender that died before recording the outcome.
    for (;;) {
      if (this.lockLost()) return { sent: this.sent, reason: 'lock_lost' };
      const orphans = await orphanedSending(this.ctx.db, this.account.id, this.opts.batchSize);
      if (!orphans.length) break;
      const rate = await this.orphanRate(orphans);
      await this.sendPaced(orphans, rate, 0, 0, true);
      if (this.offline) return idle(this.ctx, this.account.id, 'offline', this.opts.offlineRecheckMs);
      if (this.outOfTime()) return { sent: this.sent, continueInMs: 0, reason: 'budget' };
    }

    // 2. Fresh work, highest priority first.
    let sources: Source[] = [];
    let closedWaitMs = Number.POSITIVE_INFINITY;
    let sourcesAt = 0;
    const exhausted = new Set<string | null>();
    for (;;) {
      if (this.lockLost()) return { sent: this.sent, reason: 'lock_lost' };
      if (this.outOfTime()) return { sent: this.sent, continueInMs: 0, reason: 'budget' };
      if (Date.now() - sourcesAt > 2_000) {
        ({ sources, closedWaitMs } = await this.loadSources());
        sourcesAt = Date.now();
        exhausted.clear();
      }
      const source = sources.find((s) => !exhausted.has(s.taskId));
      if (!source) break;
      const step = await this.step(source);
      if (this.offline) return idle(this.ctx, this.account.id, 'offline', this.opts.offlineRecheckMs);
      if (step === 'capped') {
        // Look again soon rather than at midnight only: units reserved by another account's slice and not
        // used are given back, and an administrator may raise the cap.
        return idle(this.ctx, this.account.id, 'daily_cap', Math.min(msUntilNextLocalDay(new Date(), this.account.timezone), 5_000));
      }
      if (step === 'empty') exhausted.add(source.taskId);
      if (typeof step === 'number') {
        if (Date.now() - this.started + step >= this.opts.budgetMs) return { sent: this.sent, continueInMs: step, reason: 'budget' };
        await sleep(step);
      }
    }

    // 3. Nothing claimable now: say when to look again.
    const next = await nextScheduledAt(this.ctx.db, this.account.id);
    const retryWait = next ? Math.max(0, next.getTime() - Date.now()) : Number.POSITIVE_INFINITY;
    if (Number.isFinite(closedWaitMs) && closedWaitMs < retryWait) return idle(this.ctx, this.account.id, 'window', closedWaitMs);
    if (Number.isFinite(retryWait)) {
      if (retryWait <= 30_000) return { sent: this.sent, continueInMs: retryWait + 50, reason: 'waiting_retry' };
      return idle(this.ctx, this.account.id, 'waiting_retry', retryWait);
    }
    return { sent: this.sent, reason: 'drained' };
  }

  private async loadSources(): Promise<{ sources: Source[]; closedWaitMs: number }> {
    const now = new Date();
    const tasks = await runningTasksOfAccount(this.ctx.db, this.account.tenantId, this.account.id);
    const sources: Source[] = [];
    let closedWaitMs = Number.POSITIVE_INFINITY;
    for (const t of tasks) {
      const s = t.send_strategy;
      this.strategies.set(t.id, retryPolicyOf(s));
      if (!isWithinWindow(s.window, now, this.account.timezone)) {
        closedWaitMs = Math.min(closedWaitMs, msUntilWindowOpens(s.window, now, this.account.timezone));
        continue;
      }
      sources.push({ taskId: t.id, priority: t.priority, ratePerMinute: s.rate_per_minute ?? 0, jitter: s.jitter ?? 0, retry: retryPolicyOf(s) });
    }
    const singles = await singlesPriority(this.ctx.db, this.account.id);
    if (singles !== null) {
      sources.push({ taskId: null, priority: singles, ratePerMinute: this.singlesRate(), jitter: 0, retry: SINGLES_RETRY });
    }
    sources.sort((a, b) => b.priority - a.priority);
    return { sources, closedWaitMs };
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

  /** One claim-and-send step. Returns 'empty', 'capped', 'sent', or ms to wait for the next slot. */
  private async step(source: Source): Promise<'empty' | 'capped' | 'sent' | number> {
    const baseInterval = pacedIntervalMs(source.ratePerMinute, this.opts.pacingMarginPct);
    if (baseInterval <= 0) return this.unthrottledRun(source);
    const interval = jitteredInterval(baseInterval, source.jitter, Math.random());
    const want = interval > 0 ? Math.min(this.opts.batchSize, Math.floor(this.opts.horizonMs / interval) + 1) : this.opts.batchSize;

    // Daily cap units first (cheap to give back), then GCRA slots, then the rows.
    const day = capDay(new Date(), this.account.timezone);
    const capKey = keys.cap(this.prefix, this.account.tenantId, day);
    const capped = await this.r.wwpCapReserve(capKey, this.account.maxDaily, want, 48 * 3600_000);
    if (capped <= 0) return 'capped';

    let slots = { granted: capped, firstOffset: 0, nextTat: '', tatKey: '' };
    // Slot times are offsets from the reservation; sends keep to that grid however long the claim takes,
    // so a slow claim delays a send but never squeezes two closer than the interval.
    let reservedAt = Date.now();
    if (interval > 0) {
      const tatKey = keys.throttle(this.prefix, this.account.id);
      const [granted, firstOffset, waitMs, nextTat] = await this.r.wwpThrottleReserve(tatKey, interval, capped, this.opts.horizonMs);
      reservedAt = Date.now();
      if (granted <= 0) {
        await this.r.decrby(capKey, capped);
        return Math.max(1, Number(waitMs));
      }
      slots = { granted: Number(granted), firstOffset: Number(firstOffset), nextTat, tatKey };
      if (slots.granted < capped) await this.r.decrby(capKey, capped - slots.granted);
    }

    const rows = await claimMessages(this.ctx.db, this.account.id, source.taskId, slots.granted);
    const unused = slots.granted - rows.length;
    if (unused > 0) {
      await this.r.decrby(capKey, unused);
      if (slots.tatKey) await this.r.wwpThrottleRefund(slots.tatKey, slots.nextTat, String(Number(slots.nextTat) - unused * interval));
    }
    if (!rows.length) return 'empty';
    for (const m of rows) if (m.batch_id) this.strategies.set(m.batch_id, source.retry);
    await this.sendPaced(rows, 0, slots.firstOffset, interval, false, reservedAt);
    return 'sent';
  }

  /** Cap units and rows for an unthrottled batch (cap units not matched by rows are given back). */
  private async claimUnthrottled(source: Source): Promise<ClaimedMessage[] | 'capped'> {
    const capKey = keys.cap(this.prefix, this.account.tenantId, capDay(new Date(), this.account.timezone));
    const capped = await this.r.wwpCapReserve(capKey, this.account.maxDaily, this.opts.batchSize, 48 * 3600_000);
    if (capped <= 0) return 'capped';
    const rows = await claimMessages(this.ctx.db, this.account.id, source.taskId, capped);
    if (rows.length < capped) await this.r.decrby(capKey, capped - rows.length);
    return rows;
  }

  /**
   * Unthrottled source: `concurrency` lanes pull from one queue that a claimer refills (a batch at a
   * time) when it runs low, so database round trips overlap gateway calls and no lane waits for a
   * batch to finish. Stops claiming at the budget or when sources are due a refresh; whatever was
   * claimed is still sent (or set back) before returning.
   */
  private async unthrottledRun(source: Source): Promise<'empty' | 'capped' | 'sent'> {
    const until = Math.min(this.started + this.opts.budgetMs, Date.now() + 2_000);
    const queue: ClaimedMessage[] = [];
    let exhausted = false;
    let capped = false;
    let sentAny = false;
    let refilling: Promise<void> | null = null;
    // The first error of a claim or a lane: every lane stops taking messages, and it is rethrown once all
    // lanes have returned (no lane may outlive the slice, which releases the account lock).
    let failure: { err: unknown } | null = null;
    const stopping = () => Date.now() >= until || this.lockLost() || this.offline || failure !== null;
    const refill = async () => {
      let rows: ClaimedMessage[] | 'capped';
      try {
        rows = await this.claimUnthrottled(source);
      } catch (err) {
        failure ??= { err };
        exhausted = true;
        return;
      }
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
        refilling = refill().finally(() => {
          refilling = null;
        });
      }
      return refilling;
    };
    const lane = async () => {
      while (!failure) {
        const pending = ensure();
        const m = queue.shift();
        if (!m) {
          if (pending) {
            await pending;
            continue;
          }
          return;
        }
        sentAny = true;
        try {
          await this.sendAndRecord(m, false);
          if (this.inFlightWrites.length > 2 * this.opts.batchSize) await this.drainWrites(this.opts.batchSize);
        } catch (err) {
          failure ??= { err };
        }
      }
    };
    await Promise.all(Array.from({ length: this.opts.concurrency }, lane));
    if (refilling) await refilling;
    if (failure) {
      // Claimed and never sent: back to pending (the writer keeps them until MySQL answers).
      for (const m of queue.splice(0)) this.record(m, { kind: 'requeue' });
      throw (failure as { err: unknown }).err;
    }
    if (sentAny) return 'sent';
    return capped ? 'capped' : 'empty';
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
    const skip = this.offline || Date.now() < this.rateLimitedUntil;
    const outcome: SendOutcome =
      stopped === 'cancelled' || stopped === 'failed' ? { kind: 'cancelled' } : stopped === 'paused' ? { kind: 'held' } : skip ? { kind: 'requeue' } : await this.sendOne(m);
    if (outcome.kind === 'sent') this.sent += 1;
    this.record(m, outcome);
  }

  /** Hands a result to the writer; the slice awaits it (drainWrites) before it releases the account. */
  private record(m: ClaimedMessage, outcome: SendOutcome): void {
    const write = this.writer.record({ id: m.id, createdAt: m.created_at, taskId: m.batch_id, tenantId: m.tenant_id, outcome });
    // Owned here: drainWrites awaits it; until then a rejection (writer closed) must not go unhandled.
    write.catch(() => undefined);
    this.inFlightWrites.push(write);
  }

  /** The task status deciding whether `m` may go out; an orphan may already have been delivered, so it is always re-sent (same key) to learn the truth. */
  private statusFor(m: ClaimedMessage, orphan: boolean): Promise<string> {
    return m.batch_id && !orphan ? this.taskStatus(m.batch_id) : Promise.resolve('running');
  }

  /**
   * Sends `rows`, each at its GCRA slot when paced (`interval` given, or taken from `rate` for orphans),
   * otherwise up to `concurrency` at a time; waits until every result is durably written.
   */
  private async sendPaced(rows: ClaimedMessage[], rate: number, firstOffset: number, interval = 0, orphans = false, reservedAt = Date.now()): Promise<void> {
    let start = reservedAt;
    if (!interval && rate > 0) {
      // Orphans: reserve their slots like fresh messages (no cap: they were counted when first claimed).
      const tatKey = keys.throttle(this.prefix, this.account.id);
      const iv = pacedIntervalMs(rate, this.opts.pacingMarginPct);
      const [granted, offset, waitMs] = await this.r.wwpThrottleReserve(tatKey, iv, rows.length, Math.max(this.opts.horizonMs, rows.length * iv));
      start = Date.now();
      if (Number(granted) <= 0) await sleep(Number(waitMs));
      interval = iv;
      firstOffset = Number(offset);
    }
    if (interval > 0) {
      // Each send at its slot, but never closer than `interval` to the previous one actually sent (a late
      // send shifts the rest instead of squeezing the next pair), and one at a time: the next leaves only
      // once the previous answer is in (see nextPacedSendAt), so a slow request cannot bunch up with its
      // successor at the gateway.
      const margin = this.opts.pacingMarginPct;
      for (let i = 0; i < rows.length; i += 1) {
        // The status lookup (a query every half second) comes before the wait, so nothing stands between
        // the paced instant and the gateway call.
        const status = await this.statusFor(rows[i], orphans);
        const at = nextPacedSendAt({ slotAt: start + firstOffset + i * interval, lastDispatch: this.lastPacedSend, lastAnswer: this.lastPacedAnswer, intervalMs: interval, marginPct: margin });
        await sleep(at - Date.now());
        this.lastPacedSend = Date.now();
        await this.sendAndRecord(rows[i], orphans, status);
        this.lastPacedAnswer = Date.now();
      }
      // Keep the shared schedule (other slices, other processes) behind what actually went out.
      const next = nextPacedSendAt({ slotAt: 0, lastDispatch: this.lastPacedSend, lastAnswer: this.lastPacedAnswer, intervalMs: interval, marginPct: margin });
      if (next > start + firstOffset + rows.length * interval && next > Date.now()) {
        await this.r.wwpThrottleBackoff(keys.throttle(this.prefix, this.account.id), Math.ceil(next - Date.now())).catch(() => undefined);
      }
    } else {
      let next = 0;
      let failure: { err: unknown } | null = null;
      const lane = async () => {
        while (next < rows.length && !failure) {
          try {
            await this.sendAndRecord(rows[next++], orphans);
          } catch (err) {
            failure ??= { err };
          }
        }
      };
      // Every lane returns before this does; the first error is rethrown after (no lane outlives the slice).
      await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, rows.length) }, lane));
      if (failure) {
        for (const m of rows.slice(next)) this.record(m, { kind: 'requeue' });
        throw (failure as { err: unknown }).err;
      }
    }
    // Let this batch's status write overlap the next claim; bound what may be outstanding.
    await this.drainWrites(this.opts.batchSize);
  }

  private statusCache = new Map<string, { at: number; status: Promise<string> }>();

  /**
   * The task's status as of at most half a second ago: a pause or cancel takes effect on messages
   * already claimed but not yet sent, so "stop" means stop within a second, not after the batch.
   */
  private taskStatus(taskId: string): Promise<string> {
    const hit = this.statusCache.get(taskId);
    if (hit && Date.now() - hit.at < 500) return hit.status;
    const status = this.ctx.db('batch_send_tasks')
      .select('status')
      .where({ id: taskId })
      .first()
      .then((r: { status: string } | undefined) => r?.status ?? 'cancelled');
    this.statusCache.set(taskId, { at: Date.now(), status });
    return status;
  }

  private async sendOne(m: ClaimedMessage): Promise<SendOutcome> {
    try {
      const res = await this.ctx.gateway.sendMessage({
        guid: this.account.guid!,
        conversationId: m.conversation_id,
        content: m.content as unknown as MessageContent,
        idempotencyKey: m.id,
      });
      return { kind: 'sent', gatewayMessageId: res.gatewayMessageId };
    } catch (err) {
      const kind = isGatewayError(err) ? err.kind : 'retryable';
      const code = isGatewayError(err) ? err.code : 'internal_error';
      const message = (err as Error).message ?? String(err);
      if (kind === 'account_offline') {
        this.offline = true;
        return { kind: 'requeue' };
      }
      if (kind === 'rate_limited') {
        // The gateway knows better: nothing for this account before its retry-after.
        const wait = isGatewayError(err) && err.retryAfterMs !== undefined ? err.retryAfterMs : 1000;
        this.rateLimitedUntil = Date.now() + wait;
        await this.r.wwpThrottleBackoff(keys.throttle(this.prefix, this.account.id), wait).catch(() => undefined);
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
