import { localTime } from '../../src/domain/throttle';
import { keys } from '../../src/sending/redis-scripts';
import { kickAccounts } from '../../src/sending/kicks';
import { createTenant, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { connectSocket } from '../helpers/socket';
import { waitFor } from '../helpers/wait';
import { onlineAccount, runSliceNow, sendingSuite, taskApi, targets } from './helpers';

/**
 * Campaign controls against the simulator: the recipient frequency cap (exact with two tasks on two
 * accounts sending to the same recipients at once), the account's hourly cap and warm-up ramp applied
 * by the pacer across tasks, and the risk pause of one account while the task goes on through the others.
 */
const s = sendingSuite('campcaps');
const api = (p: string) => `${s.env.url}/api/v1${p}`;

async function setControls(tenant: TestTenant, controls: Record<string, unknown>) {
  const res = await http('PATCH', api('/tenant'), { token: tenant.adminToken, body: { campaign_controls: controls } });
  if (res.status !== 200) throw new Error(`controls: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.campaign_controls;
}

/** A fixed-offset zone `hours` east of UTC ("Etc/GMT-3" is UTC+3). */
const zoneAt = (hours: number) => (hours === 0 ? 'Etc/GMT' : `Etc/GMT${hours > 0 ? '-' : '+'}${Math.abs(hours)}`);

test('frequency cap: two tasks on two accounts to the same recipients at once; each recipient gets exactly its cap, the rest end skipped (frequency_capped), not failed', async () => {
  const { env } = s;
  const tenant = await createTenant(env);
  const tasks = taskApi(env, tenant);
  expect(await setControls(tenant, { frequency_cap: { per_day: 1 } })).toMatchObject({ frequency_cap: { per_day: 1, per_week: null, per_month: null }, risk_pause: null });
  const a = await onlineAccount(env, tenant.tenantId);
  const b = await onlineAccount(env, tenant.tenantId);
  const audience = targets(40, 'fq');
  const t1 = await tasks.create({ account_ids: [a.id], targets: audience });
  const t2 = await tasks.create({ account_ids: [b.id], targets: audience });
  await Promise.all([tasks.start(t1), tasks.start(t2)]);
  const [d1, d2] = await Promise.all([tasks.waitForStatus(t1, 'completed'), tasks.waitForStatus(t2, 'completed')]);

  // Exactly one message per recipient went out, across both tasks; the other ended skipped.
  const rows = await env.ctx.db('messages').whereIn('batch_id', [t1, t2]).select('conversation_id', 'status', 'error_code');
  const sentTo = rows.filter((r: any) => r.status === 'sent').map((r: any) => r.conversation_id);
  expect(sentTo.sort()).toEqual(audience.map((t) => t.conversation_id).sort());
  const skipped = rows.filter((r: any) => r.status === 'skipped');
  expect(skipped).toHaveLength(40);
  for (const r of skipped) expect(r.error_code).toBe('frequency_capped');
  expect(env.sim.control.ledger.summary()).toMatchObject({ duplicate_deliveries: 0 });

  // Counted apart from failures: in the task, its progress and its recipients summary.
  expect(d1.capped_count + d2.capped_count).toBe(40);
  expect(d1.success_count + d2.success_count).toBe(40);
  expect(d1.failed_count + d2.failed_count).toBe(0);
  const progress = await http('GET', api(`/tasks/${t1}/progress`), { token: tenant.adminToken });
  expect(progress.body).toMatchObject({ percent: 100, counts: { capped: d1.capped_count, failed: 0, pending: 0 } });
  // Which task lost the race for a recipient is up to timing (one may win all 40): read one that has skips.
  const [losing, losingCounts] = d2.capped_count > 0 ? [t2, d2] : [t1, d1];
  const summary = await http('GET', api(`/tasks/${losing}/recipients/summary`), { token: tenant.adminToken });
  expect(summary.body.by_status).toMatchObject({ skipped: losingCounts.capped_count, failed: 0 });
  expect(summary.body.reasons).toEqual([{ status: 'skipped', error_code: 'frequency_capped', count: losingCounts.capped_count, example_message: expect.stringContaining('1 per day') }]);
  // Only sends kept their unit: the recipients' counters hold exactly one each.
  const day = localTime(new Date(), 'Asia/Shanghai').date;
  expect(await env.ctx.redis.get(keys.frequency(env.config.redis, tenant.tenantId, 'fq-0', `d:${day}`))).toBe('1');

  // A third task the same day reaches nobody: all skipped, the task completes.
  const t3 = await tasks.create({ account_ids: [a.id], targets: audience.slice(0, 5) });
  await tasks.start(t3);
  expect(await tasks.waitForStatus(t3, 'completed')).toMatchObject({ capped_count: 5, success_count: 0, failed_count: 0 });
});

test('caps are configuration: bad values are 400 naming the field; null turns a control off; merge keeps the others', async () => {
  const { env } = s;
  const tenant = await createTenant(env);
  const bad = await http('PATCH', api('/tenant'), { token: tenant.adminToken, body: { campaign_controls: { frequency_cap: { per_day: 0 } } } });
  expect(bad.status).toBe(400);
  expect(JSON.stringify(bad.body.error.details)).toContain('campaign_controls.frequency_cap.per_day');
  const unknown = await http('PATCH', api('/tenant'), { token: tenant.adminToken, body: { campaign_controls: { risk_pause: { threshold: 3, cooldown_seconds: 60, bogus: 1 } } } });
  expect(unknown.status).toBe(400);
  await setControls(tenant, { account_hourly_cap: 50, risk_pause: { threshold: 3, cooldown_seconds: 60 } });
  const merged = await setControls(tenant, { frequency_cap: { per_week: 3 } });
  expect(merged).toMatchObject({ account_hourly_cap: 50, frequency_cap: { per_week: 3 }, risk_pause: { threshold: 3, codes: expect.arrayContaining(['risk_control']) } });
  expect(await setControls(tenant, { account_hourly_cap: null })).toMatchObject({ account_hourly_cap: null, frequency_cap: { per_week: 3 } });
});

test('hourly cap per account across two tasks: sending waits at the cap, not fails; the next hour lets it finish', async () => {
  const { env } = s;
  const tenant = await createTenant(env, { timezone: zoneAt(0) });
  const tasks = taskApi(env, tenant);
  await setControls(tenant, { account_hourly_cap: 4 });
  const a = await onlineAccount(env, tenant.tenantId);
  const t1 = await tasks.create({ account_ids: [a.id], targets: targets(3, 'h1') });
  const t2 = await tasks.create({ account_ids: [a.id], targets: targets(3, 'h2'), send_strategy: { rate_per_minute: 600, jitter: 0 } });
  await Promise.all([tasks.start(t1), tasks.start(t2)]);
  const both = async () => [await tasks.statusCounts(t1), await tasks.statusCounts(t2)];
  await waitFor(both, 'four sends and nothing in flight', { until: ([c1, c2]) => (c1.sent ?? 0) + (c2.sent ?? 0) === 4 && !c1.sending && !c2.sending });
  await runSliceNow(env, a.id);
  const [c1, c2] = await both();
  expect((c1.sent ?? 0) + (c2.sent ?? 0)).toBe(4);
  expect((c1.pending ?? 0) + (c2.pending ?? 0)).toBe(2);
  const limits = await http('GET', api(`/accounts/${a.id}/limits`), { token: tenant.adminToken });
  expect(limits.body).toMatchObject({ hourly_cap: 4, sent_this_hour: 4, sent_today: 4, risk_paused_until: null });

  // The tenant's clock moves an hour on (its zone one hour east): a fresh hour, and sending carries on.
  await env.ctx.db('tenants').where({ id: tenant.tenantId }).update({ timezone: zoneAt(1) });
  await kickAccounts(env.ctx, [a.id]);
  await tasks.waitForStatus(t1, 'completed');
  await tasks.waitForStatus(t2, 'completed');
});

test('warm-up: a warming account gets its ramp day allowance (injected start date), across tasks; a later day allows more', async () => {
  const { env } = s;
  const tenant = await createTenant(env);
  const tasks = taskApi(env, tenant);
  await setControls(tenant, { account_daily_cap: 100, warmup: { first_day: 2, daily_increase_pct: 100, new_accounts: false } });
  const a = await onlineAccount(env, tenant.tenantId);
  const warm = await onlineAccount(env, tenant.tenantId);
  const dayMs = 86_400_000;
  // Day three of the ramp (two days after its start): 2 × 2² = 8.
  const mark = await http('POST', api(`/accounts/${a.id}/warmup`), { token: tenant.adminToken, body: { warming: true, since: new Date(Date.now() - 2 * dayMs).toISOString() } });
  expect(mark.status).toBe(200);
  expect(mark.body).toMatchObject({ account_id: a.id, daily_cap: 8, sent_today: 0 });
  expect((await http('GET', api(`/accounts/${warm.id}/limits`), { token: tenant.adminToken })).body).toMatchObject({ daily_cap: 100, warming_since: null });
  const bad = await http('POST', api(`/accounts/${a.id}/warmup`), { token: tenant.adminToken, body: { warming: 'yes' } });
  expect(bad.status).toBe(400);
  expect(JSON.stringify(bad.body.error.details)).toContain('warming');

  const t1 = await tasks.create({ account_ids: [a.id], targets: targets(6, 'w1') });
  const t2 = await tasks.create({ account_ids: [a.id, warm.id], targets: targets(12, 'w2') });
  await Promise.all([tasks.start(t1), tasks.start(t2)]);
  const onA = async () => Number((await env.ctx.db('messages').whereIn('batch_id', [t1, t2]).where({ account_id: a.id }).whereIn('status', ['sent', 'sending']).count({ n: '*' }).first())?.n);
  await waitFor(onA, 'the warming account to reach its allowance', { until: (n) => n >= 8 });
  await tasks.waitForStatus(t2, 'running');
  await runSliceNow(env, a.id);
  expect(await onA()).toBe(8);
  const waitingOnA = Number((await env.ctx.db('messages').whereIn('batch_id', [t1, t2]).where({ account_id: a.id, status: 'pending' }).count({ n: '*' }).first())?.n);
  const totalOnA = Number((await env.ctx.db('messages').whereIn('batch_id', [t1, t2]).where({ account_id: a.id }).count({ n: '*' }).first())?.n);
  expect(waitingOnA).toBe(totalOnA - 8);
  // The warm account is not held back: all of its share goes out while the warming one stays at 8.
  const warmNotSent = async () => Number((await env.ctx.db('messages').where({ batch_id: t2, account_id: warm.id }).whereNot({ status: 'sent' }).count({ n: '*' }).first())?.n);
  await waitFor(warmNotSent, "the warm account's share of t2 sent", { until: (n) => n === 0 });
  expect(await onA()).toBe(8);

  // A day later in the ramp (start moved one more day back): 16 allowed, the rest goes out.
  await http('POST', api(`/accounts/${a.id}/warmup`), { token: tenant.adminToken, body: { warming: true, since: new Date(Date.now() - 3 * dayMs).toISOString() } });
  await kickAccounts(env.ctx, [a.id]);
  await tasks.waitForStatus(t1, 'completed');
  await tasks.waitForStatus(t2, 'completed');
});

test('risk pause: consecutive risk answers pause one account for the cool-down, account.risk is pushed, the task goes on through its other accounts', async () => {
  const { env } = s;
  const tenant = await createTenant(env);
  const tasks = taskApi(env, tenant);
  await setControls(tenant, { risk_pause: { threshold: 3, cooldown_seconds: 600, codes: ['risk_control'] } });
  const a = await onlineAccount(env, tenant.tenantId);
  const b = await onlineAccount(env, tenant.tenantId);
  // The tenant's CRM hears it too (the event is committed to the webhook outbox; no dispatcher runs here).
  const hook = await http('POST', api('/webhooks'), { token: tenant.adminToken, body: { name: 'crm', url: 'https://crm.example.com/hook', event_types: ['account.risk'] } });
  expect(hook.status).toBe(201);
  const socket = await connectSocket(env.url, { token: tenant.adminToken });
  try {
    env.sim.control.answerRisk(a.guid, 'risk_control', 3);
    // Paced, so the account's answers come one after another (the streak is about consecutive answers).
    const id = await tasks.create({ account_ids: [a.id, b.id], targets: targets(24, 'rk'), send_strategy: { rate_per_minute: 1200, jitter: 0 } });
    await tasks.start(id);
    const risk = await socket.waitForEvent('account.risk', (p) => p.account_id === a.id, 'account.risk for the paused account');
    expect(risk).toMatchObject({ account_id: a.id, consecutive: 3, codes: ['risk_control'], reason: 'consecutive_risk_answers' });
    expect(Date.parse(risk.paused_until)).toBeGreaterThan(Date.now() + 500_000);
    // B sends all of its messages; A's wait (pending, not failed) while it is paused.
    const onB = Number((await env.ctx.db('messages').where({ batch_id: id, account_id: b.id }).count({ n: '*' }).first())?.n);
    const sentOnB = async () => Number((await env.ctx.db('messages').where({ batch_id: id, account_id: b.id, status: 'sent' }).count({ n: '*' }).first())?.n);
    await waitFor(sentOnB, "B's messages sent", { until: (n) => n === onB });
    await runSliceNow(env, a.id);
    const onA = await env.ctx.db('messages').where({ batch_id: id, account_id: a.id }).select('status');
    expect(onA.length).toBeGreaterThan(0);
    expect(onA.every((m: any) => m.status === 'pending')).toBe(true);
    const task = await tasks.get(id);
    expect(task).toMatchObject({ status: 'running', failed_count: 0, risk_paused_count: 1 });
    expect((await http('GET', api(`/tasks/${id}/progress`), { token: tenant.adminToken })).body.counts).toMatchObject({ risk_paused: 1, failed: 0 });
    expect((await http('GET', api(`/accounts/${a.id}/limits`), { token: tenant.adminToken })).body.risk_paused_until).not.toBeNull();
    expect(env.sim.control.counters.risk_answers).toBe(3);
    const outbox = await env.ctx.db('webhook_outbox').where({ tenant_id: tenant.tenantId, type: 'account.risk' });
    expect(outbox).toHaveLength(1);
    expect(JSON.parse(outbox[0].payload)).toMatchObject({ type: 'account.risk', data: { account_id: a.id, consecutive: 3, codes: ['risk_control'], task_ids: [id] } });

    // The cool-down ends (its key expires): A sends the rest, once each.
    await env.ctx.redis.del(keys.riskPause(env.config.redis, a.id));
    await kickAccounts(env.ctx, [a.id]);
    expect(await tasks.waitForStatus(id, 'completed')).toMatchObject({ success_count: 24, failed_count: 0 });
    expect(env.sim.control.ledger.summary()).toMatchObject({ duplicate_deliveries: 0 });
  } finally {
    socket.close();
  }
});
