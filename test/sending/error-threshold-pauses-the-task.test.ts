import { connectSocket } from '../helpers/socket';
import { onlineAccount, sendingSuite, targets } from './helpers';

const s = sendingSuite('errorthreshold');

test('error threshold pauses the task with the reason and a task.status event', async () => {
  const { env, tasks } = s;
  env.sim.control.configure({ permanent_targets: targets(30, 'bad').map((x) => x.conversation_id) });
  const a = await onlineAccount(env, s.tenant.tenantId);
  const socket = await connectSocket(env.url, { token: s.tenant.adminToken });
  try {
    const id = await tasks.create({ account_ids: [a.id], targets: targets(30, 'bad'), send_strategy: { rate_per_minute: 600, jitter: 0, error_threshold: 3 } });
    await tasks.start(id);
    const paused = await tasks.waitForStatus(id, 'paused');
    expect(paused.error_message).toMatch(/paused after \d+ consecutive send errors \(last: target_not_found/);
    expect(paused.failed_count).toBeGreaterThanOrEqual(3);
    expect(paused.failed_count).toBeLessThan(30);
    await socket.waitForEvent('task.status', (e) => e.task_id === id && e.status === 'paused' && e.reason === 'error_threshold', 'the task.status paused event');
  } finally {
    socket.close();
  }
});
