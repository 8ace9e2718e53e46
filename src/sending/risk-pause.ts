import type { AppContext } from '../context';
import { addTaskCounts } from '../db/task-counters';
import type { RiskPause } from '../domain/campaign-controls';
import { DEFAULT_RISK_CODES } from '../domain/campaign-controls';
import { publishWebhookEvent } from '../webhooks/publish';
import { keys } from './redis-scripts';

/**
 * An account's risk streak: consecutive rate-limited or risk-coded gateway answers. At the tenant's
 * threshold the account's sending pauses for the cool-down (a Redis key the pacer's reservation checks,
 * so every task and process sending through the account stops), `account.risk` is announced (Socket.IO
 * and the tenant's webhooks), and the
 * running tasks using the account count a risk pause; their other accounts go on.
 *
 * The streak lives in Redis (it outlives a run and is shared by the run that follows) but costs nothing
 * on a healthy account: a success only touches Redis when this run saw the streak above zero.
 */
export type RiskCtx = Pick<AppContext, 'db' | 'redis' | 'config' | 'logger'> & Partial<Pick<AppContext, 'realtime'>>;

export interface RiskTrip {
  pausedUntil: Date;
  consecutive: number;
  codes: string[];
}

const STREAK_TTL_MS = 3600_000;

/** Whether a gateway answer counts towards the risk streak. */
export function isRiskAnswer(rule: RiskPause, kind: string, code: string): boolean {
  return kind === 'rate_limited' || (rule.codes.length ? rule.codes : DEFAULT_RISK_CODES).includes(code);
}

export class RiskWatch {
  private streak = 0;
  private readonly codes: string[] = [];
  private pausedUntil = 0;

  constructor(
    private readonly ctx: RiskCtx,
    private readonly account: { id: string; tenantId: string },
    private readonly rule: RiskPause | null,
    /** The running tasks sending through the account now (to count the pause against). */
    private readonly tasksOf: () => string[],
  ) {}

  get enabled(): boolean {
    return this.rule !== null && this.rule.threshold > 0;
  }

  /** True once this run tripped the pause (the run stops sending and ends). */
  get paused(): boolean {
    return this.pausedUntil > 0;
  }

  /** Seeds the streak from Redis (the previous run's answers count). */
  async load(): Promise<void> {
    if (!this.enabled) return;
    this.streak = Number((await this.ctx.redis.get(this.streakKey)) ?? 0);
  }

  private get streakKey() {
    return keys.riskStreak(this.ctx.config.redis, this.account.id);
  }

  /** A send went out: the streak ends. */
  async success(): Promise<void> {
    if (!this.enabled || this.streak === 0) return;
    this.streak = 0;
    this.codes.length = 0;
    await this.ctx.redis.del(this.streakKey);
  }

  /** A risk answer: the streak grows; at the threshold the account pauses. Returns the trip, if this answer tripped it. */
  async answer(code: string): Promise<RiskTrip | null> {
    if (!this.enabled || this.paused) return null;
    const rule = this.rule!;
    const [[, n]] = (await this.ctx.redis.multi().incr(this.streakKey).pexpire(this.streakKey, STREAK_TTL_MS).exec()) as [[unknown, number], unknown];
    this.streak = Number(n);
    if (!this.codes.includes(code) && this.codes.length < 10) this.codes.push(code);
    if (this.streak < rule.threshold) return null;
    const cooldownMs = rule.cooldown_seconds * 1000;
    const pauseKey = keys.riskPause(this.ctx.config.redis, this.account.id);
    // NX: concurrent lanes of one run, or a run racing its successor, trip one pause, announced once.
    const set = await this.ctx.redis.set(pauseKey, String(this.streak), 'PX', cooldownMs, 'NX');
    await this.ctx.redis.del(this.streakKey);
    this.pausedUntil = Date.now() + cooldownMs;
    if (set !== 'OK') return null;
    const trip: RiskTrip = { pausedUntil: new Date(this.pausedUntil), consecutive: this.streak, codes: [...this.codes] };
    await this.announce(trip);
    return trip;
  }

  private async announce(trip: RiskTrip): Promise<void> {
    const data = {
      account_id: this.account.id,
      reason: 'consecutive_risk_answers',
      codes: trip.codes,
      consecutive: trip.consecutive,
      paused_until: trip.pausedUntil.toISOString(),
    };
    this.ctx.logger.warn({ accountId: this.account.id, ...data }, 'account sending paused for risk');
    this.ctx.realtime?.toTenant(this.account.tenantId, 'account.risk', { ...data, at: new Date().toISOString() });
    const tasks = [...new Set(this.tasksOf())].sort();
    // The tasks' counts and the tenant's webhook event commit together.
    await this.ctx.db.transaction(async (trx) => {
      for (const taskId of tasks) await addTaskCounts(trx, taskId, { risk_paused: 1 });
      await publishWebhookEvent(trx, this.account.tenantId, 'account.risk', { ...data, task_ids: tasks });
    });
  }
}
