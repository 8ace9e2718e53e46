/**
 * A tenant runs at most EXPANSIONS_PER_TENANT expansions at once (across processes): a tenant importing
 * several big tasks cannot hold every expansion slot while other tenants' tasks wait to start.
 */
import { QUEUE } from '../../src/queues/names';
import { EXPANSIONS_PER_TENANT, expandTask, tenantSlotKey } from '../../src/sending/expand';
import { acquireLock } from '../../src/sending/redis-scripts';
import { createTenant } from '../helpers/env';
import { onlineAccount, sendingSuite, taskApi, targets } from './helpers';

const s = sendingSuite('expandslots', { workers: false });

test("with its slots held by its own expansions, a tenant's next expansion is deferred (queued again), another tenant's is not", async () => {
  const { env, tasks } = s;
  const a = await onlineAccount(env, s.tenant.tenantId);
  const paused = async (api: typeof tasks, accountId: string) => {
    const id = await api.create({ account_ids: [accountId], targets: targets(30) });
    await env.ctx.db('batch_send_tasks').where({ id }).update({ status: 'paused', start_time: new Date() });
    return id;
  };
  const mine = await paused(tasks, a.id);
  // Two long expansions of this tenant hold its slots (as another worker process would).
  const held = await Promise.all(Array.from({ length: EXPANSIONS_PER_TENANT }, (_, i) => acquireLock(env.ctx.redis, tenantSlotKey(env.config.redis.prefix, s.tenant.tenantId, i), 30_000)));
  expect(held.every(Boolean)).toBe(true);

  expect(await expandTask(env.ctx, mine)).toBe('deferred');
  expect(await tasks.statusCounts(mine)).toEqual({});
  const queued = await env.ctx.queues.get(QUEUE.taskExpand).getDelayed();
  expect(queued.map((j) => j.data.taskId)).toContain(mine);

  const other = await createTenant(env);
  const otherTasks = taskApi(env, other);
  const b = await onlineAccount(env, other.tenantId);
  const theirs = await paused(otherTasks, b.id);
  expect(await expandTask(env.ctx, theirs)).toBe('done');
  expect(await otherTasks.statusCounts(theirs)).toEqual({ pending: 30 });

  await held[0]!.release();
  expect(await expandTask(env.ctx, mine)).toBe('done');
  expect(await tasks.statusCounts(mine)).toEqual({ pending: 30 });
  await held[1]!.release();
});
