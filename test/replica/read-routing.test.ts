import { randomUUID } from 'node:crypto';
import { createTenant, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { startReplicaPair, type ReplicaPair } from '../helpers/replica';
import { waitFor } from '../helpers/wait';

/**
 * Read routing against a real MariaDB replica (a private GTID pair from scripts/mariadb-replica.sh):
 * lists and reports read the replica, single-row reads the primary; a stopped, killed or lagging
 * replica sends those reads back to the primary and shows in /health/ready and /metrics.
 *
 * "Read from the replica" is proved with rows written on the replica only (root may write on a
 * read_only server; the replica has no binary log, so nothing flows back): only a read that went to the
 * replica can return them.
 */
jest.setTimeout(120_000);

const MAX_LAG = 2;
let pair: ReplicaPair;
let env: TestEnv;
let t: TestTenant;

beforeAll(async () => {
  pair = await startReplicaPair();
  env = await createTestEnv('replica', { api: true, env: pair.env({ DB_READ_MAX_LAG_SECONDS: String(MAX_LAG), DB_READ_CHECK_MS: '200' }) });
  t = await createTenant(env);
});
afterAll(async () => {
  await env?.close();
  await pair?.down();
});

const db = () => env.config.db.database;

/** Every test starts from a running replica, caught up, no delay, serving reads (tests run in any order). */
async function replicating(): Promise<void> {
  await pair.up();
  const [status] = await pair.sql('replica', 'SHOW SLAVE STATUS');
  if (Number(status?.SQL_Delay ?? 0) !== 0) await pair.sql('replica', 'STOP SLAVE; CHANGE MASTER TO MASTER_DELAY=0; START SLAVE');
  await pair.caughtUp();
  await waitFor(() => env.ctx.replica.check(), 'the read replica to serve reads', { until: (s) => s.state === 'ok', timeoutMs: 30_000 });
}

async function insertTemplate(on: 'primary' | 'replica', name: string): Promise<string> {
  const id = randomUUID();
  await pair.sql(
    on,
    `INSERT INTO \`${db()}\`.message_templates (id, tenant_id, creator_id, template_name, template_type, template_content)
     VALUES ('${id}', '${t.tenantId}', '${t.adminId}', '${name}', 'text', '{"text":"hello"}')`,
  );
  return id;
}

async function templateNames(): Promise<string[]> {
  const res = await http('GET', `${env.url}/api/v1/templates?limit=100`, { token: t.adminToken });
  if (res.status !== 200) throw new Error(`GET /templates answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.data.map((r: { name: string }) => r.name);
}

const ready = async () => (await http('GET', `${env.url}/health/ready`)).body;
const metric = async (name: string) => {
  const text = (await http('GET', `${env.url}/metrics`)).body as string;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
};

test('lists and reports read the replica; a single-row GET reads the primary', async () => {
  await replicating();
  await insertTemplate('primary', 'on-both');
  await pair.caughtUp();
  const replicaOnly = await insertTemplate('replica', 'replica-only');
  const names = await templateNames();
  expect(names).toEqual(expect.arrayContaining(['on-both', 'replica-only']));
  expect((await http('GET', `${env.url}/api/v1/templates/${replicaOnly}`, { token: t.adminToken })).status).toBe(404);

  const account = randomUUID();
  const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  await pair.sql(
    'replica',
    `INSERT INTO \`${db()}\`.message_statistics (tenant_id, account_id, stat_date, stat_hour, total_count, success_count, failed_count)
     VALUES ('${t.tenantId}', '${account}', '${yesterday}', 12, 7, 5, 2)`,
  );
  const report = await http('GET', `${env.url}/api/v1/reports/accounts`, { token: t.adminToken });
  expect(report.status).toBe(200);
  expect(report.body.data).toEqual([expect.objectContaining({ account_id: account, total: 7, success: 5, failed: 2 })]);

  const health = await ready();
  expect(health).toMatchObject({ status: 'ok', checks: { mysql: 'ok', redis: 'ok', replica: 'ok' }, replica: { state: 'ok', serving_reads: true, max_lag_seconds: MAX_LAG } });
  expect(await metric('db_replica_serving_reads')).toBe(1);
  await pair.sql('replica', `DELETE FROM \`${db()}\`.message_statistics WHERE account_id = '${account}'`);
});

test('STOP SLAVE sends reads back to the primary and degrades readiness; START SLAVE brings them back', async () => {
  await replicating();
  const name = `stopped-${randomUUID().slice(0, 8)}`;
  await insertTemplate('replica', name);
  expect(await templateNames()).toContain(name);

  const stoppedAt = Date.now();
  await pair.sql('replica', 'STOP SLAVE');
  await waitFor(async () => !(await templateNames()).includes(name), 'lists to read the primary after STOP SLAVE');
  console.info(`[replica] STOP SLAVE → reads on the primary after ${Date.now() - stoppedAt} ms (check every 200 ms)`);
  const health = await ready();
  expect(health.status).toBe('degraded');
  expect(health.checks).toMatchObject({ mysql: 'ok', redis: 'ok', replica: expect.stringMatching(/^down: replication SQL thread No/) });
  expect(health.replica).toMatchObject({ state: 'down', serving_reads: false, lag_seconds: null });
  expect(await metric('db_replica_serving_reads')).toBe(0);

  await pair.sql('replica', 'START SLAVE');
  await waitFor(async () => (await templateNames()).includes(name), 'lists to read the replica again after START SLAVE');
  expect((await ready()).status).toBe('ok');
});

test('kill -9 of the replica: lists keep answering from the primary, never a 500', async () => {
  await replicating();
  const name = `killed-${randomUUID().slice(0, 8)}`;
  await insertTemplate('replica', name);
  expect(await templateNames()).toContain(name);

  const statuses = new Map<number, number>();
  await pair.killReplica();
  const killedAt = Date.now();
  await waitFor(
    async () => {
      const res = await http('GET', `${env.url}/api/v1/templates?limit=100`, { token: t.adminToken });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      return res.status === 200 && !res.body.data.some((r: { name: string }) => r.name === name);
    },
    'lists to read the primary after the replica was killed',
  );
  console.info(`[replica] kill -9 → reads on the primary after ${Date.now() - killedAt} ms; answers meanwhile: ${JSON.stringify([...statuses])}`);
  // A request on a replica connection at the instant of the kill may answer 503 + Retry-After (the
  // store is unavailable); nothing answers 500, and once the replica is marked down every answer is 200.
  expect([...statuses.keys()].every((s) => s === 200 || s === 503)).toBe(true);
  const health = await ready();
  expect(health.status).toBe('degraded');
  expect(health.replica).toMatchObject({ state: 'down', serving_reads: false });
  for (let i = 0; i < 5; i++) expect(await templateNames()).not.toContain(name);

  await replicating();
  expect(await templateNames()).toContain(name);
});

test('lag past DB_READ_MAX_LAG_SECONDS is reported (health, metric) and reads go to the primary until it catches up', async () => {
  await replicating();
  // Delayed replication: the replica applies each event 6 s after the primary wrote it.
  await pair.sql('replica', 'STOP SLAVE; CHANGE MASTER TO MASTER_DELAY=6; START SLAVE');
  const name = `lagging-${randomUUID().slice(0, 8)}`;
  await insertTemplate('primary', name);
  const writtenAt = Date.now();

  const lagging = await waitFor(ready, `/health/ready to report a lag above ${MAX_LAG} s`, { until: (h) => h.replica?.state === 'lagging' });
  console.info(`[replica] MASTER_DELAY=6: lagging (${lagging.replica.lag_seconds} s > ${MAX_LAG} s) reported ${Date.now() - writtenAt} ms after the write`);
  expect(lagging.status).toBe('degraded');
  expect(lagging.replica.lag_seconds).toBeGreaterThan(MAX_LAG);
  expect(lagging.checks.replica).toMatch(new RegExp(`^lagging: \\d+ s behind \\(max ${MAX_LAG} s\\)$`));
  expect(await metric('db_replica_lag_seconds')).toBeGreaterThan(MAX_LAG);
  // Still lagging (the row is not on the replica yet), yet the list has it: it was read on the primary.
  const [onReplica] = await pair.sql('replica', `SELECT COUNT(*) AS n FROM \`${db()}\`.message_templates WHERE template_name = '${name}'`);
  expect(Number(onReplica.n)).toBe(0);
  expect(await templateNames()).toContain(name);
  expect(env.ctx.replica.snapshot().state).toBe('lagging');

  await waitFor(() => env.ctx.replica.snapshot(), 'the replica to catch up within the delay', { until: (s) => s.state === 'ok', timeoutMs: 30_000 });
  console.info(`[replica] caught up, reads on the replica again ${Date.now() - writtenAt} ms after the write`);
  const [applied] = await pair.sql('replica', `SELECT COUNT(*) AS n FROM \`${db()}\`.message_templates WHERE template_name = '${name}'`);
  expect(Number(applied.n)).toBe(1);
  await pair.sql('replica', 'STOP SLAVE; CHANGE MASTER TO MASTER_DELAY=0; START SLAVE');
});
