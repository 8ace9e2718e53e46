import type { Knex } from 'knex';
import { parseJson } from '../db/json';
import type { SendStrategy } from '../db/tasks';

/**
 * What every account runner of a process asks about tasks, answered from one short-lived cache per
 * process instead of one query per account: the running tasks of a tenant (with the accounts each may
 * use), and a task's status (so a pause or cancel reaches messages already claimed within `statusTtlMs`).
 * Ten thousand accounts of one tenant cost one query per `tasksTtlMs`, not ten thousand JSON scans.
 */
export interface RunningTask {
  id: string;
  priority: number;
  strategy: SendStrategy;
  accounts: ReadonlySet<string>;
}

interface Cached<T> {
  at: number;
  value: Promise<T>;
}

export class TaskDirectory {
  private readonly byTenant = new Map<string, Cached<RunningTask[]>>();
  private readonly statuses = new Map<string, Cached<string>>();

  constructor(
    private readonly db: Knex,
    private readonly opts: { tasksTtlMs: number; statusTtlMs: number } = { tasksTtlMs: 1_000, statusTtlMs: 500 },
  ) {}

  /**
   * Running tasks of the tenant that may send through `accountId`, read at `notBefore` or later: a run
   * asked for after a change (a task started, its window edited) sees it, while the runs of many
   * accounts kicked together still share one read.
   */
  async runningTasksOf(tenantId: string, accountId: string, notBefore = 0): Promise<RunningTask[]> {
    const all = await this.cached(this.byTenant, tenantId, this.opts.tasksTtlMs, () => this.loadRunning(tenantId), notBefore);
    return all.filter((t) => t.accounts.has(accountId));
  }

  /** The task's status, at most `statusTtlMs` old ('cancelled' when the task is gone). */
  status(taskId: string): Promise<string> {
    return this.cached(this.statuses, taskId, this.opts.statusTtlMs, async () => {
      const row = await this.db('batch_send_tasks').select('status').where({ id: taskId }).first();
      return (row?.status as string | undefined) ?? 'cancelled';
    });
  }

  private cached<T>(map: Map<string, Cached<T>>, key: string, ttl: number, load: () => Promise<T>, notBefore = 0): Promise<T> {
    const hit = map.get(key);
    const now = Date.now();
    if (hit && now - hit.at < ttl && hit.at >= notBefore) return hit.value;
    // Entries past their TTL are dropped as new ones come in, so the maps stay as small as what is in use.
    if (map.size > 10_000) for (const [k, v] of map) if (now - v.at >= ttl) map.delete(k);
    const value = load();
    value.catch(() => map.delete(key));
    map.set(key, { at: now, value });
    return value;
  }

  private async loadRunning(tenantId: string): Promise<RunningTask[]> {
    const rows = await this.db('batch_send_tasks').select('id', 'priority', 'send_strategy', 'account_ids').where({ tenant_id: tenantId, status: 'running' });
    return rows.map((r: Record<string, unknown>) => ({
      id: r.id as string,
      priority: r.priority as number,
      strategy: parseJson(r.send_strategy, {} as SendStrategy),
      accounts: new Set(parseJson<string[]>(r.account_ids, [])),
    }));
  }
}
