import { startSimulator, type RunningSimulator } from '../../src/gateway/simulator';
import { newId } from '../../src/db/ids';
import type { RunningWorker } from '../../workers';
import { startMessageSendWorker } from '../../workers/message-send.worker';
import { startTaskExpandWorker } from '../../workers/task-expand.worker';
import type { SenderOptions } from '../../src/sending/account-sender';
import { createTestEnv, type TestEnv } from '../helpers/env';

/** A test environment whose gateway is a fresh in-process simulator (ledger starts empty). */
export interface SendingEnv extends TestEnv {
  sim: RunningSimulator;
}

export async function createSendingEnv(label: string, env: Record<string, string> = {}): Promise<SendingEnv> {
  const sim = await startSimulator({ port: 0, callbackSecret: 'test-callback-secret', autoLogin: false });
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

export function startWorkers(env: TestEnv, sender: Partial<SenderOptions> = {}): RunningWorker[] {
  return [startTaskExpandWorker(env.ctx), startMessageSendWorker(env.ctx, { sweepIntervalMs: 500, sender: { budgetMs: 2_000, offlineRecheckMs: 500, ...sender } })];
}

export async function stopWorkers(workers: RunningWorker[]): Promise<void> {
  for (const w of workers) await w.close();
}

/** Polls until `check` returns a truthy value (a wait, not a timing assertion). */
export async function waitFor<T>(check: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

export const targets = (n: number, prefix = 'conv') => Array.from({ length: n }, (_, i) => ({ conversation_id: `${prefix}-${i}` }));
