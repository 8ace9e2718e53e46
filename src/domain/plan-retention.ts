/**
 * Per-plan message retention (RETENTION_PLAN_MESSAGE_DAYS): which rows a tenant's plan no longer keeps,
 * and when a whole monthly partition of `messages` holds nothing any of its tenants' plans still keeps.
 * Pure decisions; the cron job does the I/O (src/db/message-retention.ts).
 */

const DAY_MS = 86_400_000;

/** Rows of a tenant on `plan` created before this are past retention; null when the plan has no shorter retention. */
export function planCutoff(planDays: Record<string, number>, plan: string | null | undefined, now: Date): Date | null {
  const days = plan ? planDays[plan] : undefined;
  return days === undefined ? null : new Date(now.getTime() - days * DAY_MS);
}

/**
 * A monthly partition (every row created before `lessThan`) can be emptied whole when each tenant with
 * rows in it is on a plan whose cutoff is at or after `lessThan`. A tenant on any other plan (or unknown)
 * keeps its rows for the partition retention, so the partition stays.
 */
export function partitionExpiredForAll(lessThan: Date, tenantPlans: Array<string | null | undefined>, planDays: Record<string, number>, now: Date): boolean {
  if (tenantPlans.length === 0) return false;
  return tenantPlans.every((plan) => {
    const cutoff = planCutoff(planDays, plan, now);
    return cutoff !== null && lessThan.getTime() <= cutoff.getTime();
  });
}

/** Exclusive upper bound of a monthly partition named pYYYYMM: the first day (UTC) of the next month. */
export function monthPartitionEnd(name: string): Date | null {
  const m = /^p(\d{4})(\d{2})$/.exec(name);
  return m ? new Date(Date.UTC(Number(m[1]), Number(m[2]), 1)) : null;
}

/**
 * Whether a partition holding rows created in [lowerBound, lessThan) — lowerBound null for the first
 * partition, which holds everything earlier too — holds one of `times`: the created_at a started task
 * still writes its rows with (its start), so retention keeps that partition while the task may still
 * expand or send into it.
 */
export function partitionHoldsAny(lowerBound: Date | null, lessThan: Date, times: Date[]): boolean {
  return times.some((t) => t.getTime() < lessThan.getTime() && (lowerBound === null || t.getTime() >= lowerBound.getTime()));
}

/** A tenant's deletion cutoff: its plan's, but never past the start of one of its started tasks (whose rows it still writes). */
export function cutoffBeforeStartedTasks(cutoff: Date, startedTaskTimes: Date[]): Date {
  return new Date(Math.min(cutoff.getTime(), ...startedTaskTimes.map((t) => t.getTime())));
}
