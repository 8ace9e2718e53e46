import { parseJson } from '../../src/db/json';
import { runTour, type TourResult } from '../../src/demo/tour';
import { createTenant, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { freePort } from '../helpers/ports';
import { PROCESS_TEST_TIMEOUT_MS, spawnRole, waitReady, type SpawnedRole } from '../helpers/processes';
import { waitFor } from '../helpers/wait';

/**
 * The whole product as one user meets it: the real entry point runs every role (API, workers, cron,
 * gateway simulator) in a child process, and the demo tour drives it through the public API only —
 * login, QR login completed by the simulator, conversation sync, template, batch task with Socket.IO
 * progress, delivery receipts arriving as signed callbacks. Then SIGTERM must stop it cleanly. A second
 * run after a restart covers `npm start` twice: sessions held by the old process's simulator are gone.
 */
jest.setTimeout(PROCESS_TEST_TIMEOUT_MS + 60_000);

let env: TestEnv;
let tenant: TestTenant;
const tenantCode = `e2e${Date.now().toString(36)}`;

beforeAll(async () => {
  env = await createTestEnv('e2eall');
  tenant = await createTenant(env, { code: tenantCode });
});
afterAll(() => env?.close());

interface Service {
  url: string;
  proc: SpawnedRole;
}

/** The real entry point with every role, on fresh ports, against this file's database and Redis prefix. */
async function startService(): Promise<Service> {
  const [port, simulatorPort, wechatyPort] = [await freePort(), await freePort(), await freePort()];
  const url = `http://127.0.0.1:${port}`;
  const proc = spawnRole({
    role: 'all',
    config: env.config,
    env: {
      // Warnings and errors (pino writes to stdout) and crashes (stderr) are kept for failure messages.
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      DB_POOL_MAX: '10',
      HOST: '127.0.0.1',
      PORT: String(port),
      PUBLIC_URL: '',
      SIMULATOR_HOST: '127.0.0.1',
      SIMULATOR_LISTEN_HOST: '127.0.0.1',
      SIMULATOR_PORT: String(simulatorPort),
      WECHATY_GATEWAY_PORT: String(wechatyPort),
      WECHATY_CACHE_DIR: `/tmp/wwp-test-wechaty/${env.config.redis.prefix.replace(/[^a-z0-9-]/gi, '')}`,
      SIMULATOR_AUTO_LOGIN: 'true',
      SIMULATOR_AUTO_LOGIN_DELAY_MS: '300',
      CALLBACK_URL: `${url}/callbacks/gateway`,
      GATEWAY_URL: '',
      INFLUX_URL: '',
      MINIO_ENDPOINT: '',
      ACCOUNT_RECOVERY_BASE_DELAY_MS: '200',
    },
  });
  await waitReady(url, { proc });
  return { url, proc };
}

async function tour(service: Service, accountName?: string): Promise<TourResult> {
  const narrative: string[] = [];
  try {
    return await runTour({
      baseUrl: service.url,
      tenantCode,
      accountName,
      username: tenant.username,
      password: tenant.password,
      ratePerMinute: 120,
      stepTimeoutMs: 30_000,
      log: (line) => narrative.push(line),
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- tour so far ---\n${narrative.join('\n')}\n--- service output ---\n${service.proc.output().slice(-4000)}`);
  }
}

/** SIGTERM; resolves with the exit code. */
async function stopService(service: Service): Promise<number | null> {
  return (await service.proc.stop()).code;
}

test('all roles in one process: the demo tour succeeds end to end, then SIGTERM exits 0', async () => {
  const service = await startService();
  const result = await tour(service);
  const db = env.ctx.db;

  // The account came online through the login flow, and its status history says so.
  expect(result.accountStatuses).toContain('online');
  const account = await db('wework_accounts').where({ id: result.accountId, tenant_id: tenant.tenantId }).first();
  expect(account).toMatchObject({ status: 'online', guid: result.guid });
  const history = await db('account_status_history').where({ account_id: result.accountId }).orderBy('id');
  // Polls and callbacks race to report each step, so an intermediate step may be skipped, never reordered.
  const path = history.map((h) => h.new_status);
  expect(path.slice(0, 2)).toEqual(['created', 'logging_in']);
  expect(path[path.length - 1]).toBe('online');
  expect(path.filter((s) => s === 'online')).toHaveLength(1);
  expect(path.slice(2, -1).every((s) => s === 'waiting_scan' || s === 'waiting_confirm')).toBe(true);
  expect(history.find((h) => h.new_status === 'logging_in')).toMatchObject({ old_status: 'created', reason: 'login_requested', operator_type: 'user', operator_id: tenant.adminId });
  expect(history.every((h) => h.tenant_id === tenant.tenantId)).toBe(true);

  // Conversations were synced from the gateway, and every one of them got the message.
  expect(result.conversations.length).toBeGreaterThan(0);
  const synced = await db('conversations').where({ account_id: result.accountId, tenant_id: tenant.tenantId }).count({ n: '*' });
  expect(Number(synced[0].n)).toBe(result.conversations.length);
  expect(result.preview).toEqual({ type: 'text', text: 'Hello Alice! Spring sale: 20% off this week. Questions? Ask your account manager.' });

  expect(result.task).toMatchObject({ status: 'completed', total_count: result.conversations.length, failed_count: 0 });
  expect(result.task.success_count).toBe(result.task.total_count);
  const counted = Object.values(result.messageCounts).reduce((a, b) => a + b, 0);
  expect(counted).toBe(result.task.total_count);
  // The simulator acknowledges every send with a delivery receipt (a callback), which the tour waits for.
  expect(result.messageCounts).toEqual({ delivered: result.task.total_count });
  const rendered = await db('messages').where({ batch_id: result.taskId }).select('conversation_id', 'content');
  for (const m of rendered) {
    const name = result.conversations.find((c) => c.conversation_id === m.conversation_id)!.conversation_name;
    const text = parseJson<{ text: string }>(m.content, { text: '' }).text;
    expect(text.startsWith(`Hello ${name}! `)).toBe(true);
    expect(text).toMatch(/^Hello .+! Spring sale: 20% off until \d{4}-\d{2}-\d{2}\. Questions\? Ask your account manager\.$/);
  }

  // Realtime reached the operator's socket.
  expect(result.progressEvents.length).toBeGreaterThan(0);
  expect(result.progressEvents.every((p) => p.task_id === result.taskId && p.counts.total === result.task.total_count)).toBe(true);
  expect(result.statusEvents.map((e) => e.status)).toContain('completed');

  // The simulator's signed callbacks arrived at the webhook and were all applied.
  const events = await waitFor(() => db('callback_events').where({ guid: result.guid }), 'every callback of the account to be processed', {
    until: (rows) => rows.length > 0 && rows.every((r) => r.status === 'processed' || r.status === 'ignored'),
  });
  expect(events.every((e) => e.status === 'processed' && e.tenant_id === tenant.tenantId)).toBe(true);
  // Login progress and online during the QR login, then the delivery receipts of the task.
  expect(new Set(events.map((e) => e.event_type))).toEqual(new Set(['account.login_progress', 'account.online', 'messages']));

  expect(await stopService(service)).toBe(0);
});

test('after a restart (the built-in simulator has forgotten its sessions) the tour still sends everything', async () => {
  // An account online in the database whose session lived in the previous process's simulator.
  const first = await startService();
  const before = await tour(first, 'Restarted account');
  expect(await stopService(first)).toBe(0);

  const second = await startService();
  const after = await tour(second, 'Restarted account');
  expect(after.task).toMatchObject({ status: 'completed', failed_count: 0 });
  expect(after.task.success_count).toBe(after.task.total_count);
  expect(after.messageCounts).toEqual({ delivered: after.task.total_count });
  const account = await env.ctx.db('wework_accounts').where({ id: after.accountId }).first();
  expect(account.status).toBe('online');
  expect(account.guid).not.toBe(before.guid);
  expect(await stopService(second)).toBe(0);
});
