import { smallestGapMs } from '../helpers/simulator';
import { onlineAccount, sendingSuite, targets } from './helpers';

// No pacing margin: the count rule alone must keep every arrival on time.
const s = sendingSuite('neverearly', { sender: { pacingMarginPct: 0 } });

const ACCOUNTS = 12;
const PER_ACCOUNT = 15;
const RATE_PER_MINUTE = 600; // the gateway's limit and the task's pace: one request per 100 ms
const INTERVAL_MS = 60_000 / RATE_PER_MINUTE;

/**
 * Many accounts paced at exactly the gateway's own limit, with no margin below it, against a limiter
 * that refuses an arrival even a millisecond early (token bucket of burst 1): the next send of an
 * account leaves a full interval after the gateway counted the previous one (its `counted_at`), so no
 * request is refused and no two of an account's requests reach the gateway closer than the interval,
 * while every message is delivered once. Gaps on the simulator's own clock (lower bounds), not timings.
 */
test('accounts paced at the gateway limit with no margin: none refused, none early, every message once', async () => {
  const { env, tasks, tenant } = s;
  env.sim.control.configure({ send_rate_per_minute: RATE_PER_MINUTE, send_burst: 1 });
  const accounts = [];
  for (let i = 0; i < ACCOUNTS; i += 1) accounts.push(await onlineAccount(env, tenant.tenantId));
  const id = await tasks.create({
    account_ids: accounts.map((a) => a.id),
    targets: targets(ACCOUNTS * PER_ACCOUNT),
    send_strategy: { rate_per_minute: RATE_PER_MINUTE, jitter: 0 },
  });
  await tasks.start(id);
  await tasks.waitForStatus(id, 'completed', 120_000);

  let delivered = 0;
  for (const a of accounts) {
    const arrivals = env.sim.sendsOf(a.guid);
    expect(arrivals.filter((x) => x.outcome === 'rate_limited')).toEqual([]);
    expect(smallestGapMs(arrivals)).toBeGreaterThanOrEqual(INTERVAL_MS);
    delivered += arrivals.filter((x) => x.outcome === 'delivered').length;
  }
  expect(env.sim.control.counters.rate_limited).toBe(0);
  expect(delivered).toBe(ACCOUNTS * PER_ACCOUNT);
  expect(env.sim.control.ledger.summary()).toMatchObject({ unique_keys: ACCOUNTS * PER_ACCOUNT, duplicate_deliveries: 0 });
  expect(await tasks.statusCounts(id)).toEqual({ sent: ACCOUNTS * PER_ACCOUNT });
});
