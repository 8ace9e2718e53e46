import { createTenant } from '../helpers/env';
import { connectSocket } from '../helpers/socket';
import { onlineAccount, sendingSuite, taskApi, targets } from './helpers';

const s = sendingSuite('rtprogress');

test('socket clients receive progress and status only for their own tenant, coalesced', async () => {
  const { env, tasks, tenant: t } = s;
  const other = await createTenant(env);
  const mine = await connectSocket(env.url, { token: t.adminToken });
  const theirs = await connectSocket(env.url, { token: other.adminToken });
  try {
    const a = await onlineAccount(env, t.tenantId);
    const id = await tasks.create({ account_ids: [a.id], targets: targets(300) });
    await tasks.start(id);
    await tasks.waitForStatus(id, 'completed');
    await mine.waitForEvent('task.progress', (p) => p.task_id === id && p.percent === 100, 'the final progress event');
    await mine.waitForEvent('task.status', (p) => p.task_id === id && p.status === 'completed', 'the completed status event');
    const progress = mine.received('task.progress', (p) => p.task_id === id);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.length).toBeLessThan(300); // coalesced, not one per message
    expect(progress[progress.length - 1]).toMatchObject({ counts: { total: 300, sent: 300 }, percent: 100, eta_seconds: 0 });
    expect(mine.received('task.status', (p) => p.task_id === id).map((p) => p.status)).toEqual(['running', 'completed']);
    // Barrier for the other tenant's socket: an event of its own, published after all of the task's, arrives …
    const theirAccount = await onlineAccount(env, other.tenantId);
    const theirTasks = taskApi(env, other);
    const theirTask = await theirTasks.create({ account_ids: [theirAccount.id], targets: targets(1) });
    await theirTasks.start(theirTask);
    await theirs.waitForEvent('task.status', (p) => p.task_id === theirTask, 'the other tenant’s own task event');
    // … and nothing of this tenant's task ever did.
    expect(theirs.events.filter((e) => String(e.event).startsWith('task.') && e.payload.task_id === id)).toEqual([]);
  } finally {
    mine.close();
    theirs.close();
  }
});
