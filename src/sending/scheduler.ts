import { accountsWithSending } from '../db/messages';
import { DEFAULT_SENDER_OPTIONS, loadAccounts, runAccount, type AccountInfo, type SenderCtx, type SenderOptions, type SliceResult } from './account-sender';
import { ClaimBatcher } from './claim-batcher';
import { GroupRead } from './group-read';
import { LeaseKeeper } from './leases';
import { SendLimits } from './limits';
import { SinglesLookup } from './singles-lookup';
import { Slots } from './slots';
import { keys } from './redis-scripts';
import type { StatusWriter } from './status-writer';
import { TaskDirectory } from './task-directory';
import { TimerHeap } from './timer-heap';

/**
 * The send scheduler of one worker process: it holds the leases of the accounts this process sends for
 * and drives one run per leased account (src/sending/account-sender.ts). A kick (BullMQ message-send
 * job) only asks it to take an account: the job ends at once, so ten thousand paced accounts hold no
 * BullMQ job, and their waits share one timer (TimerHeap), their lease renewals one Lua call a second
 * (LeaseKeeper), their task lookups one cache (TaskDirectory).
 *
 * An account stays here while it has work: a run that ends with a short wait (a retry due within 30 s,
 * an unthrottled budget) is run again after it; a run that ends idle (drained, offline, window closed,
 * daily cap) releases the lease, and the next kick or the sweeper brings the account back.
 */
interface Held {
  /** Another run was asked for while this one ran. */
  again: boolean;
  /** When the latest run was asked for: the run reads the account's tasks as of then or later. */
  askedAt: number;
  /** Callers waiting for the result of the next run to start. */
  waiters: Array<(r: SliceResult) => void>;
}

export class SendScheduler {
  readonly clock = new TimerHeap();
  private readonly leases: LeaseKeeper;
  private readonly directory: TaskDirectory;
  private readonly limits: SendLimits;
  private readonly singles: SinglesLookup;
  private readonly held = new Map<string, Held>();
  private readonly drives = new Set<Promise<void>>();
  private readonly starts: Slots;
  /** Paced claims in flight at once (their rows claimed in batches): the rest wait as callbacks, not as queries. */
  private readonly claims: Slots;
  /** Run start-ups' reads and paced claims, one query for many runs (group commit). */
  private readonly accountReads: GroupRead<string, AccountInfo>;
  private readonly sendingReads: GroupRead<string, true>;
  private readonly pacedClaims: ClaimBatcher;
  private closing = false;

  constructor(
    private readonly ctx: SenderCtx,
    private readonly writer: StatusWriter,
    private readonly opts: SenderOptions = DEFAULT_SENDER_OPTIONS,
  ) {
    this.leases = new LeaseKeeper(ctx.redis, (id) => keys.accountLock(ctx.config.redis, id), opts.lockTtlMs);
    this.directory = new TaskDirectory(ctx.db);
    this.limits = new SendLimits(ctx.redis);
    this.singles = new SinglesLookup(ctx.db);
    this.starts = new Slots(opts.maxStartingRuns);
    this.claims = new Slots(Math.max(1, opts.maxConcurrentClaims ?? 500));
    this.accountReads = new GroupRead((ids) => loadAccounts(ctx.db, ids));
    this.sendingReads = new GroupRead(async (ids) => new Map([...(await accountsWithSending(ctx.db, ids))].map((id) => [id, true as const])));
    this.pacedClaims = new ClaimBatcher(ctx.db);
  }

  /** Accounts this process sends for now. */
  get accounts(): number {
    return this.held.size;
  }

  /**
   * Asks for a run of the account. Answers at once ('accepted', or 'busy' when another process holds the
   * account); with `wait`, answers with the result of the next run to start instead (tests' barrier).
   */
  async wake(accountId: string, wait = false, askedAt = Date.now()): Promise<SliceResult> {
    if (this.closing) return { sent: 0, reason: 'busy' };
    const mine = this.held.get(accountId);
    if (mine) {
      mine.again = true;
      mine.askedAt = Math.max(mine.askedAt, askedAt);
      return wait ? new Promise((resolve) => mine.waiters.push(resolve)) : { sent: 0, reason: 'accepted' };
    }
    const entry: Held = { again: false, askedAt, waiters: [] };
    this.held.set(accountId, entry);
    let got = false;
    try {
      got = await this.leases.acquire(accountId);
    } catch (err) {
      this.ctx.logger.warn({ err, accountId }, 'account lease not taken');
    }
    if (!got) {
      this.held.delete(accountId);
      return { sent: 0, reason: 'busy' };
    }
    const result = wait ? new Promise<SliceResult>((resolve) => entry.waiters.push(resolve)) : Promise.resolve<SliceResult>({ sent: 0, reason: 'accepted' });
    const drive = this.drive(accountId, entry).finally(() => this.drives.delete(drive));
    this.drives.add(drive);
    return result;
  }

  private async drive(accountId: string, entry: Held): Promise<void> {
    const mustStop = () => this.closing || this.leases.lost(accountId);
    let last: SliceResult = { sent: 0, reason: 'busy' };
    try {
      for (;;) {
        entry.again = false;
        const waiters = entry.waiters.splice(0);
        const notBefore = entry.askedAt;
        // A run starts (account, orphans, sources, first claim: a handful of queries) on one of a few
        // start slots, and gives the slot back once it first waits or sends: ten thousand accounts kicked
        // at once queue here, not as ten thousand sets of queries waiting for a pool connection.
        const started = await this.starts.take();
        // Closing: a run still waiting for its start must not start (ten thousand start-ups at shutdown).
        if (mustStop()) {
          started();
          break;
        }
        const deps = { ctx: this.ctx, writer: this.writer, clock: this.clock, directory: this.directory, limits: this.limits, singles: this.singles, claims: this.claims, accounts: this.accountReads, sending: this.sendingReads, pacedClaims: this.pacedClaims, mustStop, settled: started };
        try {
          last = await runAccount(deps, accountId, this.opts, notBefore);
        } catch (err) {
          // A failed run (MySQL or Redis away) is looked at again shortly; the sweeper covers a lost one.
          this.ctx.logger.warn({ err, accountId }, 'account run failed');
          last = { sent: 0, reason: 'busy', continueInMs: 1_000 };
        } finally {
          started();
        }
        for (const w of waiters) w(last);
        if (mustStop()) break;
        if (entry.again || entry.waiters.length) continue;
        if (last.continueInMs === undefined || last.continueInMs > 30_000) break;
        await this.clock.sleep(last.continueInMs);
        if (mustStop()) break;
      }
    } finally {
      await this.leases.release(accountId);
      this.held.delete(accountId);
      for (const w of entry.waiters.splice(0)) w(last);
    }
    // Asked again while the lease was being given back: take the account again.
    if (entry.again && !this.closing) void this.wake(accountId);
  }

  /** Stops every run: sends in flight finish and are handed to the writer, claimed ones go back, leases are released. */
  async close(): Promise<void> {
    this.closing = true;
    this.clock.close();
    this.starts.close();
    this.claims.close();
    while (this.drives.size) await Promise.all([...this.drives]);
  }
}
