import { signAccessToken } from '../../src/auth/access-tokens';
import type { CronJob } from '../../src/cron/job';
import { CRON_JOBS } from '../../src/cron/jobs';
import { runJobOnce } from '../../src/cron/runner';
import { acquireLock } from '../../src/cron/lock';
import { parseJson } from '../../src/db/json';
import { redisKey } from '../../src/redis';
import { createTenant, createUserWithRole, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { PROCESS_TEST_TIMEOUT_MS, spawnRole } from '../helpers/processes';
import { waitFor } from '../helpers/wait';

let env: TestEnv;
let tenant: TestTenant;
beforeAll(async () => {
  env = await createTestEnv('cronrunner', { api: true });
  tenant = await createTenant(env);
});
afterAll(() => env.close());

const job = (name: string, run: CronJob['run']): CronJob => ({ name, schedule: '0 * * * *', run });

test('every registered job has a unique name and a valid schedule', async () => {
  const cron = await import('node-cron');
  const names = CRON_JOBS.map((j) => j.name);
  expect(new Set(names).size).toBe(names.length);
  for (const j of CRON_JOBS) expect({ job: j.name, valid: cron.validate(j.schedule) }).toEqual({ job: j.name, valid: true });
});

test('a run is recorded with outcome, duration and result; a failure records the error', async () => {
  const ok = await runJobOnce(env.ctx, job('probe-ok', async () => ({ rows: 3 })), new Date('2026-11-23T10:00:00.000Z'));
  expect(ok).toMatchObject({ outcome: 'success', result: { rows: 3 } });
  const bad = await runJobOnce(env.ctx, job('probe-bad', async () => { throw new Error('disk on fire'); }), new Date('2026-11-23T10:00:00.000Z'));
  expect(bad).toMatchObject({ outcome: 'failed', error: 'disk on fire' });

  const rows = await env.ctx.db('cron_job_runs').whereIn('job_name', ['probe-ok', 'probe-bad']).orderBy('job_name');
  expect(rows.map((r) => [r.job_name, r.outcome, r.error])).toEqual([
    ['probe-bad', 'failed', 'disk on fire'],
    ['probe-ok', 'success', null],
  ]);
  expect(parseJson(rows[1].result, null)).toEqual({ rows: 3 });
  for (const r of rows) {
    expect(r.duration_ms).toBeGreaterThanOrEqual(0);
    expect(r.finished_at.getTime()).toBeGreaterThanOrEqual(r.started_at.getTime());
    expect(r.tick_at.toISOString()).toBe('2026-11-23T10:00:00.000Z');
  }
});

test('the same tick runs once even when fired again after the first run finished', async () => {
  let runs = 0;
  const j = job('probe-once', async () => {
    runs++;
  });
  const tick = new Date('2026-11-23T11:00:00.250Z');
  expect((await runJobOnce(env.ctx, j, tick)).outcome).toBe('success');
  // A second process whose timer fired a little later, within the same second.
  expect((await runJobOnce(env.ctx, j, new Date('2026-11-23T11:00:00.900Z'))).outcome).toBe('not_elected');
  expect(runs).toBe(1);
  expect((await runJobOnce(env.ctx, j, new Date('2026-11-23T12:00:00.000Z'))).outcome).toBe('success');
  expect(runs).toBe(2);
});

test('a tick arriving while the previous run still holds the lock is recorded as skipped', async () => {
  const lock = await acquireLock(env.ctx.redis, redisKey(env.config.redis.prefix, 'cron', 'probe-busy'), 60_000);
  expect(lock).not.toBeNull();
  let runs = 0;
  const res = await runJobOnce(env.ctx, job('probe-busy', async () => { runs++; }), new Date('2026-11-23T13:00:00Z'));
  expect(res).toEqual({ outcome: 'skipped', reason: 'previous run still in progress' });
  expect(runs).toBe(0);
  const row = await env.ctx.db('cron_job_runs').where({ job_name: 'probe-busy' }).first();
  expect(row.outcome).toBe('skipped');
  // The lock is token-owned: a release by anyone else's token does nothing, ours works.
  const other = await acquireLock(env.ctx.redis, lock!.key, 60_000);
  expect(other).toBeNull();
  expect(await lock!.release()).toBe(true);
  expect(await lock!.release()).toBe(false);
});

describe('two cron processes on the same Redis prefix', () => {
  const start = () =>
    spawnRole({ script: 'test/cron/fixtures/cron-process.ts', config: env.config, env: { DB_POOL_MAX: '3' }, label: 'cron fixture' });

  test('each tick of a job runs at most once, recorded once; both processes compete for it', async () => {
    const [a, b] = [start(), start()];
    await Promise.all([a.waitForOutput(/ready/, 'cron process A to start'), b.waitForOutput(/ready/, 'cron process B to start')]);
    // Both processes have been scheduling together for several ticks.
    const since = new Date();
    await waitFor(
      // Ticks that ran (a loaded machine may also record ticks skipped while the previous run held the lock).
      async () => Number((await env.ctx.db('cron_job_runs').where({ job_name: 'lock-probe', outcome: 'success' }).where('tick_at', '>', since).count({ n: '*' }))[0].n),
      'five ticks run while both cron processes run',
      // A loaded machine may miss ticks (node-cron skips them): give five ticks a minute.
      { until: (n) => n >= 5, intervalMs: 200, timeoutMs: 60_000 },
    );
    expect(await a.stop()).toEqual({ code: 0, signal: null });
    expect(await b.stop()).toEqual({ code: 0, signal: null });

    const executions = await env.ctx.redis.hgetall(redisKey(env.config.redis.prefix, 'test', 'executions'));
    const perTick = Object.values(executions).map(Number);
    expect(perTick.length).toBeGreaterThanOrEqual(5);
    expect(perTick.every((n) => n === 1)).toBe(true);

    const runs = await env.ctx.db('cron_job_runs').where('job_name', 'lock-probe').select('tick_at', 'outcome', 'host');
    const byTick = new Map<string, number>();
    for (const r of runs) byTick.set(r.tick_at.toISOString(), (byTick.get(r.tick_at.toISOString()) ?? 0) + 1);
    expect([...byTick.values()].every((n) => n === 1)).toBe(true);
    // A tick either ran (success, one execution) or found the previous run still going (skipped, none).
    expect(runs.filter((r) => !['success', 'skipped'].includes(r.outcome))).toEqual([]);
    const ran = runs.filter((r) => r.outcome === 'success').map((r) => r.tick_at.toISOString()).sort();
    expect(ran).toEqual(Object.keys(executions).sort());

    // Both processes really competed: each fired ticks, and each won some or lost some to the other.
    const outcomes = await env.ctx.redis.hgetall(redisKey(env.config.redis.prefix, 'test', 'outcomes'));
    const pids = new Set(Object.keys(outcomes).map((k) => k.split(':')[0]));
    expect(pids).toEqual(new Set([String(a.pid), String(b.pid)]));
    const total = (outcome: string) => Object.entries(outcomes).filter(([k]) => k.endsWith(`:${outcome}`)).reduce((n, [, v]) => n + Number(v), 0);
    expect(total('not_elected')).toBeGreaterThan(0);
    expect(total('success')).toBe(ran.length);
  }, PROCESS_TEST_TIMEOUT_MS);
});

describe('job history API', () => {
  test('tenant operators with cron:read see jobs and runs without internals; the platform admin sees errors', async () => {
    const registered = CRON_JOBS[0];
    expect(registered).toBeDefined();
    await runJobOnce(env.ctx, { ...registered, run: async () => { throw new Error('boom at tenant x'); } }, new Date('2026-11-23T14:00:00Z'));

    const viewer = await createUserWithRole(env, tenant, 'viewer');
    const jobs = await http('GET', `${env.url}/api/v1/cron/jobs`, { token: viewer.token });
    expect(jobs.status).toBe(200);
    const view = jobs.body.data.find((j: { name: string }) => j.name === registered.name);
    expect(view).toMatchObject({ schedule: registered.schedule, timezone: 'UTC', last_run: { outcome: 'failed' } });
    expect(view.last_run.error).toBeUndefined();
    expect(view.last_run.duration_ms).toBeGreaterThanOrEqual(0);

    const platform = signAccessToken(env.config.auth, { sub: 'platform-admin', kind: 'platform' });
    const full = await http('GET', `${env.url}/api/v1/cron/jobs`, { token: platform });
    expect(full.status).toBe(200);
    expect(full.body.data.find((j: { name: string }) => j.name === registered.name).last_run.error).toBe('boom at tenant x');

    // Paginated history, newest first, filterable (three more runs of this test's own, whatever ran before).
    for (const h of [15, 16, 17]) await runJobOnce(env.ctx, job('probe-page', async () => ({})), new Date(`2026-11-23T${h}:00:00Z`));
    const page1 = await http('GET', `${env.url}/api/v1/cron/runs?limit=2`, { token: platform });
    expect(page1.status).toBe(200);
    expect(page1.body.data).toHaveLength(2);
    expect(page1.body.next_cursor).toEqual(expect.any(String));
    const page2 = await http('GET', `${env.url}/api/v1/cron/runs?limit=2&cursor=${page1.body.next_cursor}`, { token: platform });
    expect(page2.body.data[0].id).not.toBe(page1.body.data[1].id);
    const failed = await http('GET', `${env.url}/api/v1/cron/runs?outcome=failed`, { token: viewer.token });
    expect(failed.body.data.length).toBeGreaterThan(0);
    expect(failed.body.data.every((r: { outcome: string }) => r.outcome === 'failed')).toBe(true);

    const bad = await http('GET', `${env.url}/api/v1/cron/runs?outcome=weird`, { token: viewer.token });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.fields[0].field).toBe('query.outcome');
  });

  test('a key without cron:read is refused', async () => {
    const { createHash, randomBytes } = await import('node:crypto');
    const secret = `wwp_${randomBytes(16).toString('hex')}`;
    await env.ctx.db('api_keys').insert({
      id: randomBytes(8).toString('hex'),
      tenant_id: tenant.tenantId,
      name: 'no-cron',
      key_prefix: secret.slice(0, 12),
      key_hash: createHash('sha256').update(secret).digest('hex'),
      permissions: JSON.stringify(['files:read']),
    });
    const res = await http('GET', `${env.url}/api/v1/cron/jobs`, { token: secret });
    expect(res.status).toBe(403);
  });
});
