import { eventKey } from '../../src/callbacks/ingest';
import { insertCallbackEvents } from '../../src/db/callbacks';
import { NOTIFY } from '../../src/gateway/callback-protocol';
import { callbackSweeperJob, PROCESSING_TIMEOUT_MS, sweepCallbacks } from '../../src/cron/jobs/callback-sweeper';
import { CRON_JOBS } from '../../src/cron/jobs';
import { QUEUE } from '../../src/queues/names';
import { Queues } from '../../src/queues/queues';
import { startApiServer, type RunningApi } from '../../src/server';
import { startCallbackProcessWorker } from '../../workers/callback-process.worker';
import type { RunningWorker } from '../../workers';
import { createTenant, createTestEnv, type TestEnv } from '../helpers/env';
import { unreachableRedis } from '../helpers/unreachable-redis';
import { waitFor } from '../helpers/wait';
import { callback, eventRow, insertAccount, postCallback, queuedEventIds, waitForEvent } from './support';

/**
 * An acknowledged callback is never lost: with Redis unreachable for the queue the event is still stored
 * and acknowledged, and the sweeper later puts it through; claims abandoned by a dead worker come back.
 */
let env: TestEnv;
let deadRedisApi: RunningApi;
let deadConnection: ReturnType<typeof unreachableRedis>;

beforeAll(async () => {
  env = await createTestEnv('cbdurable');
  // Same database, but the queue producer points at a port where no Redis listens.
  deadConnection = unreachableRedis({ url: 'redis://127.0.0.1:1', prefix: env.config.redis.prefix }, 'blocking', { retryStrategy: () => 500 });
  deadRedisApi = await startApiServer({ ...env.ctx, queues: new Queues(deadConnection, env.config.redis.prefix) }, 0, '127.0.0.1');
});
afterAll(async () => {
  await deadRedisApi.close();
  deadConnection.disconnect();
  await env.close();
});

const queue = () => env.ctx.queues.get(QUEUE.callbackProcess);

/** Runs `fn` with a callback-process worker (no handlers) in this process; other tests run without one, so their jobs stay queued. */
async function withWorker<T>(fn: () => Promise<T>): Promise<T> {
  const worker: RunningWorker = startCallbackProcessWorker(env.ctx, { handlers: {} });
  try {
    return await fn();
  } finally {
    await worker.close();
  }
}

test('the sweeper is registered as a cron job', () => {
  expect(CRON_JOBS).toContain(callbackSweeperJob);
});

test('with the queue unreachable a callback is still stored and acknowledged; the sweeper later gets it processed', async () => {
  const t = await createTenant(env);
  const acct = await insertAccount(env, t.tenantId);
  const res = await postCallback({ ...env, url: deadRedisApi.url }, callback(acct.guid, NOTIFY.groupChange, { room: 'r1' }));
  expect(res.status).toBe(200);
  expect(res.body.duplicate).toBe(false);
  expect(await eventRow(env, res.body.id)).toMatchObject({ status: 'received', tenant_id: t.tenantId });
  expect((await queuedEventIds(env)).has(res.body.id)).toBe(false);

  // A sweep inside the grace period leaves it alone (it may still be on its way through the queue).
  expect(await sweepCallbacks(env.ctx, new Date())).toMatchObject({ requeued: 0 });
  // Later, with Redis reachable: the cron job (called as the runner calls it) enqueues it.
  const swept = await callbackSweeperJob.run(env.ctx, new Date(Date.now() + 60_000));
  expect(swept).toMatchObject({ enqueue_failed: 0 });
  expect((swept as { requeued: number }).requeued).toBeGreaterThanOrEqual(1);
  expect((await queue().getJob(res.body.id))?.data).toEqual({ id: res.body.id });

  const row = await withWorker(() => waitForEvent(env, res.body.id, (r) => r.status !== 'received' && r.status !== 'processing', 'processed by the worker'));
  expect(row.status).toBe('ignored');
  expect(row.error_message).toBe(`no handler for notify_type ${NOTIFY.groupChange}`);
});

test('a claim abandoned by a dead worker is released by the sweeper after a lease of about a minute, and processed', async () => {
  expect(PROCESSING_TIMEOUT_MS).toBeLessThanOrEqual(60_000);
  const res = await postCallback({ ...env, url: deadRedisApi.url }, callback('g-stuck', NOTIFY.contactChange, {}));
  // Simulate a worker that claimed the event and was killed 70 seconds ago.
  await env.ctx.db('callback_events').where({ id: res.body.id }).update({ status: 'processing', process_time: new Date(Date.now() - 70_000) });
  // A claim younger than the lease is not touched.
  const fresh = await postCallback({ ...env, url: deadRedisApi.url }, callback('g-busy', NOTIFY.contactChange, {}));
  await env.ctx.db('callback_events').where({ id: fresh.body.id }).update({ status: 'processing', process_time: new Date(Date.now() - 30_000) });

  const swept = await sweepCallbacks(env.ctx, new Date(), { receivedGraceMs: 24 * 3600_000 });
  expect(swept).toMatchObject({ reclaimed: 1 });
  const row = await withWorker(() => waitForEvent(env, res.body.id, (r) => r.status === 'ignored', 'processed after the sweeper released its claim'));
  expect(row.notify_type).toBe(NOTIFY.contactChange);
  expect((await eventRow(env, fresh.body.id)).status).toBe('processing');
});

test('re-enqueueing an event that is already queued does not create a second job', async () => {
  const res = await postCallback({ ...env, url: deadRedisApi.url }, callback('g-twice', NOTIFY.friendRequest, {}));
  const later = new Date(Date.now() + 60_000);
  await sweepCallbacks(env.ctx, later);
  await sweepCallbacks(env.ctx, later);
  const jobs = await queue().getJobs(['waiting', 'delayed', 'active', 'completed']);
  expect(jobs.filter((j) => j.data.id === res.body.id)).toHaveLength(1);
});

test('a backlog larger than one page is swept in one run', async () => {
  const events = Array.from({ length: 2500 }, (_, i) => ({
    eventKey: eventKey('gateway', 'g-backlog', String(i)),
    guid: 'g-backlog',
    notifyType: NOTIFY.friendRequest,
    eventType: 'friend.request',
    rawData: JSON.stringify(callback('g-backlog', NOTIFY.friendRequest, { i })),
  }));
  for (let i = 0; i < events.length; i += 500) await insertCallbackEvents(env.ctx.db, events.slice(i, i + 500));
  try {
    // On a loaded machine a page's enqueue may pass its 2 s limit: the run then stops and leaves the rest
    // to the next run (by design). Run again until one run hands the whole backlog over.
    const swept = await waitFor(() => sweepCallbacks(env.ctx, new Date(Date.now() + 60_000)), 'one sweep run that hands over all 2500 events (three pages)', {
      until: (r) => r.requeued >= 2500,
      timeoutMs: 45_000,
    });
    expect(swept.enqueue_failed).toBe(0);
    const ids = (await env.ctx.db('callback_events').where({ guid: 'g-backlog' }).select('id')).map((r: { id: string }) => r.id);
    const jobs = await Promise.all(ids.map((id: string) => queue().getJob(id)));
    expect(jobs.filter(Boolean)).toHaveLength(2500);
  } finally {
    // The backlog is this test's alone: leave no 2500 events for another test's sweep or worker.
    await env.ctx.db('callback_events').where({ guid: 'g-backlog' }).delete();
    await queue().drain(true);
  }
});
