import { randomUUID } from 'node:crypto';
import { QueueEvents } from 'bullmq';
import { newId } from '../../src/db/ids';
import { QUEUE } from '../../src/queues/names';
import { createRedis } from '../../src/redis';
import { accountPrefix } from '../../src/redis-keyspace';
import { SLICE_JOB, sendQueueFor } from '../../src/sending/kicks';
import type { SenderOptions } from '../../src/sending/account-sender';
import type { RunningWorker } from '../../workers';
import { startMessageSendWorker } from '../../workers/message-send.worker';
import { startTaskExpandWorker } from '../../workers/task-expand.worker';
import { expandTask } from '../../src/sending/expand';
import { createTenant, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { startTestSimulator, type TestSimulator } from '../helpers/simulator';
import { waitFor as waitForCondition, within } from '../helpers/wait';

/** A test environment whose gateway is a fresh simulator (ledger and send record start empty). */
export interface SendingEnv extends TestEnv {
  sim: TestSimulator;
}

export async function createSendingEnv(label: string, env: Record<string, string> = {}): Promise<SendingEnv> {
  const sim = await startTestSimulator({ autoLogin: false });
  const base = await createTestEnv(label, { api: true, env: { SIMULATOR_PORT: new URL(sim.url).port, ...env } });
  return {
    ...base,
    sim,
    async close() {
      await base.close();
      await sim.close();
    },
  };
}

/** A simulator instance logged in, and its account row (status online) in the tenant. */
export async function onlineAccount(env: SendingEnv, tenantId: string, opts: { rate?: number } = {}): Promise<{ id: string; guid: string }> {
  const { guid } = env.sim.control.createInstance('test');
  await env.sim.control.startLogin(guid);
  env.sim.control.scan(guid);
  env.sim.control.confirm(guid);
  const id = newId();
  await env.ctx.db('wework_accounts').insert({
    id,
    tenant_id: tenantId,
    account_name: `acc-${id.slice(-8)}`,
    guid,
    status: 'online',
    config: opts.rate !== undefined ? JSON.stringify({ rate_per_minute: opts.rate }) : null,
  });
  return { id, guid };
}

/** The expand and send workers in this process (a short slice budget and sweep interval, for tests). */
export function startWorkers(env: TestEnv, sender: Partial<SenderOptions> = {}): RunningWorker[] {
  return [startTaskExpandWorker(env.ctx), startMessageSendWorker(env.ctx, { sweepIntervalMs: 500, sender: { budgetMs: 2_000, offlineRecheckMs: 500, ...sender } })];
}

export async function stopWorkers(workers: RunningWorker[]): Promise<void> {
  for (const w of workers) await w.close();
}

export const targets = (n: number, prefix = 'conv') => Array.from({ length: n }, (_, i) => ({ conversation_id: `${prefix}-${i}` }));

/** Tasks of one tenant through the public API. */
export function taskApi(env: TestEnv, tenant: TestTenant) {
  const api = (p: string) => `${env.url}/api/v1${p}`;
  const self = {
    /** A manual task (text "hello", unthrottled) with `body` on top; returns its id. */
    async create(body: Record<string, unknown>): Promise<string> {
      const res = await http('POST', api('/tasks'), {
        token: tenant.adminToken,
        body: { name: `task-${newId().slice(-6)}`, target_type: 'manual', content: { type: 'text', text: 'hello' }, send_strategy: { rate_per_minute: 0 }, ...body },
      });
      if (res.status !== 201) throw new Error(`create task: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.id;
    },
    action: (id: string, action: 'start' | 'pause' | 'resume' | 'cancel') => http('POST', api(`/tasks/${id}/${action}`), { token: tenant.adminToken }),
    async start(id: string): Promise<void> {
      const res = await self.action(id, 'start');
      if (res.status !== 200) throw new Error(`start task: ${res.status} ${JSON.stringify(res.body)}`);
    },
    get: async (id: string) => (await http('GET', api(`/tasks/${id}`), { token: tenant.adminToken })).body,
    /** Waits until the task has `status` and returns it. */
    waitForStatus: (id: string, status: string, timeoutMs = 30_000) =>
      waitForCondition(() => self.get(id), `task ${id} to be ${status}`, { timeoutMs, until: (t) => t?.status === status }),
    /** Waits until every target of the task is a message row. */
    waitForExpansion: (id: string) => waitForCondition(() => self.get(id), `task ${id} expanded`, { until: (t) => Boolean(t?.expansion_done) }),
    /** Message counts by status, from the database. */
    async statusCounts(id: string): Promise<Record<string, number>> {
      const rows = await env.ctx.db('messages').select('status').count({ n: '*' }).where({ batch_id: id }).groupBy('status');
      return Object.fromEntries(rows.map((r: any) => [r.status, Number(r.n)]));
    },
  };
  return self;
}

/**
 * Barrier: asks for one sender run of `accountId` through the message-send queue now and waits until a
 * worker has finished it (asked again when another process held the account). After it, whatever the
 * sender would send for the account in its current state has been tried.
 */
export async function runSliceNow(env: TestEnv, accountId: string, what = `a sender slice for account ${accountId}`): Promise<void> {
  const connection = createRedis(env.config.redis, 'blocking');
  const events = new QueueEvents(QUEUE.messageSend, { connection, prefix: accountPrefix(env.config.redis, accountId) });
  // A read in flight when the events close fails with "Connection is closed" (on a cluster): not an error here.
  events.on('error', () => undefined);
  try {
    await events.waitUntilReady();
    const queue = sendQueueFor(env.ctx, accountId);
    await within(
      (async () => {
        for (;;) {
          const job = await queue.add(SLICE_JOB, { accountId, wait: true }, { jobId: `probe-${accountId}-${randomUUID()}` });
          const result = (await job.waitUntilFinished(events)) as { reason?: string } | undefined;
          if (result?.reason !== 'busy') return;
          await new Promise((r) => setTimeout(r, 50));
        }
      })(),
      what,
      30_000,
    );
  } finally {
    await events.close();
    connection.disconnect();
  }
}

export interface SendingSuite {
  env: SendingEnv;
  tenant: TestTenant;
  tasks: ReturnType<typeof taskApi>;
}

/**
 * One test file's sending environment: a fresh simulator, database and Redis prefix, a tenant, and the
 * expand and send workers in this process; torn down after the file. Use inside tests (`s.env`, …).
 */
export function sendingSuite(label: string, opts: { env?: Record<string, string>; sender?: Partial<SenderOptions>; workers?: boolean } = {}): SendingSuite {
  const suite = {} as SendingSuite;
  let workers: RunningWorker[] = [];
  beforeAll(async () => {
    suite.env = await createSendingEnv(label, opts.env);
    suite.tenant = await createTenant(suite.env);
    suite.tasks = taskApi(suite.env, suite.tenant);
    if (opts.workers !== false) workers = startWorkers(suite.env, opts.sender);
  });
  afterAll(async () => {
    await stopWorkers(workers);
    await suite.env?.close();
  });
  return suite;
}

/** How many of the task's messages the simulator delivered (each counted once). */
export async function deliveredCount(env: SendingEnv, taskId: string): Promise<number> {
  const ids = (await env.ctx.db('messages').where({ batch_id: taskId }).pluck('id')) as string[];
  return ids.filter((id) => env.sim.control.ledger.deliveriesOf(id) > 0).length;
}

/**
 * A task of `n` targets on the account, put in `status` and expanded right here (for suites without
 * workers): its messages wait in `pending` for whatever the test does next.
 */
export async function expandedTask(s: SendingSuite, accountId: string, n: number, status: 'running' | 'paused'): Promise<string> {
  const id = await s.tasks.create({ account_ids: [accountId], targets: targets(n) });
  await s.env.ctx.db('batch_send_tasks').where({ id }).update({ status, start_time: new Date() });
  const outcome = await expandTask(s.env.ctx, id);
  if (outcome !== 'done') throw new Error(`expansion of task ${id}: ${outcome}`);
  return id;
}
