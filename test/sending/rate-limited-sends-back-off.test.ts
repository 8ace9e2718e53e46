import { onlineAccount, sendingSuite, targets } from './helpers';

const s = sendingSuite('ratelimited');

/**
 * The gateway's 429 is obeyed: the task asks for 600/min while the gateway allows 120/min (burst 1), so
 * the gateway answers rate_limited with a retry-after. Nothing goes to that account before the
 * retry-after has passed, the refused message is sent later with the same key, and a rate limit is
 * neither a failure nor a retry. Checked on the simulator's own arrival clock (lower bounds only).
 */
test('a rate-limited answer makes the account wait its retry-after; every message is still sent once', async () => {
  const { env, tasks, tenant } = s;
  env.sim.control.configure({ send_rate_per_minute: 120, send_burst: 1 });
  const a = await onlineAccount(env, tenant.tenantId);
  const id = await tasks.create({ account_ids: [a.id], targets: targets(6), send_strategy: { rate_per_minute: 600, jitter: 0 } });
  await tasks.start(id);
  await tasks.waitForStatus(id, 'completed');

  const arrivals = env.sim.sendsOf(a.guid);
  const limited = arrivals.map((x, i) => ({ ...x, i })).filter((x) => x.outcome === 'rate_limited');
  expect(limited.length).toBeGreaterThan(0); // the 429 path ran
  for (const r of limited) {
    expect(r.retryAfterMs).toBeGreaterThan(0);
    const next = arrivals[r.i + 1];
    // The account's next request reached the gateway no earlier than the retry-after allowed.
    if (next) expect(next.at - r.at).toBeGreaterThanOrEqual(r.retryAfterMs!);
  }
  // Each refused message came back with its key and was delivered.
  const refusedKeys = new Set(limited.map((r) => r.key));
  const deliveredKeys = new Set(arrivals.filter((x) => x.outcome === 'delivered').map((x) => x.key));
  for (const key of refusedKeys) expect(deliveredKeys.has(key)).toBe(true);
  expect(deliveredKeys.size).toBe(6);
  expect(env.sim.control.ledger.summary()).toMatchObject({ unique_keys: 6, duplicate_deliveries: 0 });

  expect(await tasks.statusCounts(id)).toEqual({ sent: 6 });
  const rows = await env.ctx.db('messages').where({ batch_id: id }).select('retry_count', 'error_code');
  expect(rows).toHaveLength(6);
  for (const row of rows) expect(row).toMatchObject({ retry_count: 0, error_code: null });
  expect(await tasks.get(id)).toMatchObject({ sent_count: 6, failed_count: 0 });
});
