import { onlineAccount, sendingSuite, targets } from './helpers';

const s = sendingSuite('retrysamekey');

test('retryable failures and lost acknowledgements: retried with the same key, delivered exactly once', async () => {
  const { env, tasks } = s;
  env.sim.control.configure({ failure_rate: 0.3, ack_loss_rate: 0.2 });
  const a = await onlineAccount(env, s.tenant.tenantId);
  const id = await tasks.create({
    account_ids: [a.id],
    targets: targets(50),
    send_strategy: { rate_per_minute: 0, retry: { max_attempts: 10, backoff_ms: 100, backoff: 'fixed' }, error_threshold: 0 },
  });
  await tasks.start(id);
  const done = await tasks.waitForStatus(id, 'completed');
  expect(done).toMatchObject({ total_count: 50, sent_count: 50, success_count: 50, failed_count: 0 });
  const ledger = env.sim.control.ledger.summary();
  expect(ledger.unique_keys).toBe(50);
  expect(ledger.duplicate_deliveries).toBe(0);
  expect(ledger.duplicate_requests).toBeGreaterThan(0); // acks were lost and the retry was recognised
  const retried = await env.ctx.db('messages').where({ batch_id: id }).andWhere('retry_count', '>', 0).count({ n: '*' }).first();
  expect(Number(retried!.n)).toBeGreaterThan(0);
  // Every retry of a message carried that message's id as its key.
  const keys = new Set((await env.ctx.db('messages').where({ batch_id: id }).pluck('id')) as string[]);
  expect(env.sim.sendsOf(a.guid).every((x) => keys.has(x.key))).toBe(true);
});
