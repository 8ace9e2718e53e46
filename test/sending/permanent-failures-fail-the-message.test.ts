import { onlineAccount, sendingSuite, targets } from './helpers';

const s = sendingSuite('permanentfail');

test('permanent failures fail the message with the gateway code, the rest go', async () => {
  const { env, tasks } = s;
  env.sim.control.configure({ permanent_targets: ['conv-1', 'conv-2'], failure_rate: 0 }); // whatever a test before set
  const a = await onlineAccount(env, s.tenant.tenantId);
  const id = await tasks.create({ account_ids: [a.id], targets: targets(10) });
  await tasks.start(id);
  const done = await tasks.waitForStatus(id, 'completed');
  expect(done).toMatchObject({ total_count: 10, sent_count: 10, success_count: 8, failed_count: 2 });
  const failed = await env.ctx.db('messages').where({ batch_id: id, status: 'failed' }).orderBy('conversation_id');
  expect(failed.map((m: any) => [m.conversation_id, m.error_code])).toEqual([
    ['conv-1', 'target_not_found'],
    ['conv-2', 'target_not_found'],
  ]);
  expect(failed[0].error_message).toContain('does not exist');
  // A permanent refusal is not retried: one try each reached the gateway.
  expect(env.sim.sendsOf(a.guid).filter((x) => x.code === 'target_not_found').map((x) => x.key).sort()).toEqual(failed.map((m: any) => m.id).sort());
});

test('retryable failures exhaust the retry policy into failed; a task whose messages all failed ends failed', async () => {
  const { env, tasks } = s;
  env.sim.control.configure({ permanent_targets: [], failure_rate: 1 });
  const a = await onlineAccount(env, s.tenant.tenantId);
  const id = await tasks.create({ account_ids: [a.id], targets: targets(2, 'x'), send_strategy: { rate_per_minute: 0, retry: { max_attempts: 2, backoff_ms: 100, backoff: 'fixed' }, error_threshold: 0 } });
  await tasks.start(id);
  const failedTask = await tasks.waitForStatus(id, 'failed');
  expect(failedTask).toMatchObject({ total_count: 2, failed_count: 2, success_count: 0 });
  const rows = await env.ctx.db('messages').where({ batch_id: id });
  for (const r of rows) expect(r).toMatchObject({ status: 'failed', error_code: 'gateway_busy', retry_count: 2 });
  // Exactly max_attempts tries per message reached the gateway.
  const keys = rows.map((r: any) => r.id).sort();
  expect(env.sim.sendsOf(a.guid).map((x) => x.key).sort()).toEqual([keys[0], keys[0], keys[1], keys[1]]);
});
