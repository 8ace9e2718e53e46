/**
 * A send worker closing (SIGTERM) while many paced account runs wait for a start or a claim slot: the
 * close lets every waiter through at once, and before the fix each one then ran its whole start-up or
 * claim (ten thousand sets of queries at shutdown; a 10,000-account worker had not exited after 10
 * minutes). Now a run whose turn comes after the close neither starts nor claims, and what was claimed
 * is sent or goes back to pending, with every lease released.
 */
import { keys } from '../../src/sending/redis-scripts';
import { waitFor } from '../helpers/wait';
import { onlineAccount, sendingSuite, startWorkers, stopWorkers } from './helpers';

const s = sendingSuite('shutdownwaiting', { workers: false });

// Generous: 200 accounts on a shared machine; the close itself is what is checked, not its time.
jest.setTimeout(180_000);

test('closing the send worker while hundreds of paced runs wait for a slot starts no run and claims nothing more; nothing is left in sending, every lease is released', async () => {
  const { env, tasks } = s;
  const n = 200;
  const accounts = await Promise.all(Array.from({ length: n }, () => onlineAccount(env, s.tenant.tenantId)));
  // 1/min: an account sends once, then waits a minute; three messages each (a task takes 100 accounts at most).
  const ids: string[] = [];
  for (let k = 0; k < n; k += 100) {
    const some = accounts.slice(k, k + 100);
    const targets = some.flatMap((a, i) => [0, 1, 2].map((j) => ({ conversation_id: `c-${k + i}-${j}`, account_id: a.id })));
    ids.push(await tasks.create({ account_ids: some.map((a) => a.id), targets, send_strategy: { rate_per_minute: 1, jitter: 0 } }));
  }
  const statusCounts = async () => {
    const total: Record<string, number> = {};
    for (const id of ids) for (const [k, v] of Object.entries(await tasks.statusCounts(id))) total[k] = (total[k] ?? 0) + v;
    return total;
  };
  // One start slot and one claim slot: the runs start one after the other, as ten thousand do behind 64.
  const workers = startWorkers(env, { maxStartingRuns: 1, maxConcurrentClaims: 1 });
  let sentBeforeClose = 0;
  try {
    for (const id of ids) await tasks.start(id);
    // Barrier: every account is leased by this worker (its run started or waiting for a slot), and one sent.
    const leased = () => Promise.all(accounts.map((a) => env.ctx.redis.exists(keys.accountLock(env.config.redis, a.id))));
    await waitFor(async () => (await leased()).filter((x) => x === 1).length, 'every account leased by the worker', { until: (k) => k === n });
    await waitFor(statusCounts, 'a first send', { until: (c) => (c.sent ?? 0) >= 1 });
    sentBeforeClose = (await statusCounts()).sent ?? 0;
  } catch (err) {
    await stopWorkers(workers);
    throw err;
  }

  // Every statement the close causes: no queued run's start-up (its account read) or claim may be among them.
  const statements: Array<{ sql: string; bindings?: unknown[] }> = [];
  const onQuery = (q: { sql: string; bindings?: unknown[] }) => statements.push(q);
  env.ctx.db.on('query', onQuery);
  try {
    // The send worker first: the statements counted are the ones its close causes.
    await stopWorkers([...workers].reverse());
  } finally {
    env.ctx.db.off('query', onQuery);
  }
  // The runs were still queued when the close began (else this test shows nothing).
  expect(sentBeforeClose).toBeLessThan(n);
  const starts = statements.filter((q) => /from `wework_accounts` as `a` inner join `tenants`/i.test(q.sql));
  const claims = statements.filter((q) => /^update `messages` set `status` = \?/i.test(q.sql) && q.bindings?.[0] === 'sending');
  // At most the one run holding the start slot when the close began (before the fix: every queued one).
  expect(starts.length).toBeLessThanOrEqual(1);
  expect(claims.length).toBeLessThanOrEqual(1);

  // What was claimed went out or back: nothing in `sending`, every send recorded once, no lease left.
  const counts = await statusCounts();
  expect(counts.sending ?? 0).toBe(0);
  expect((counts.sent ?? 0) + (counts.pending ?? 0)).toBe(3 * n);
  const sentIds = (await env.ctx.db('messages').whereIn('batch_id', ids).andWhere({ status: 'sent' }).pluck('id')) as string[];
  for (const m of sentIds) expect(env.sim.control.ledger.deliveriesOf(m)).toBe(1);
  expect(env.sim.control.ledger.summary().total_deliveries).toBe(sentIds.length);
  const held = await Promise.all(accounts.map((a) => env.ctx.redis.exists(keys.accountLock(env.config.redis, a.id))));
  expect(held.filter((x) => x === 1)).toEqual([]);
});
