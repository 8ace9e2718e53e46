import { http } from '../helpers/http';
import { onlineAccount, sendingSuite, targets } from './helpers';

const s = sendingSuite('scheduledtask');

test('a task with a scheduled time starts by itself, not before that time', async () => {
  const { env, tasks, tenant: t } = s;
  const a = await onlineAccount(env, t.tenantId);
  const scheduled = new Date(Date.now() + 1500);
  const created = await http('POST', `${env.url}/api/v1/tasks`, {
    token: t.adminToken,
    body: { name: 'scheduled', target_type: 'manual', content: { type: 'text', text: 'hello' }, account_ids: [a.id], targets: targets(3), scheduled_time: scheduled.toISOString() },
  });
  expect(created.status).toBe(201);
  expect(created.body.status).toBe('created');
  const done = await tasks.waitForStatus(created.body.id, 'completed');
  expect(done.sent_count).toBe(3);
  expect(new Date(done.start_time).getTime()).toBeGreaterThanOrEqual(new Date(done.scheduled_time).getTime());
  expect(Math.min(...env.sim.sendsOf(a.guid).map((x) => x.at))).toBeGreaterThanOrEqual(scheduled.getTime());
});
