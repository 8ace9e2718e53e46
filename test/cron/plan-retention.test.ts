import { randomBytes } from 'node:crypto';
import { applyPlanRetention } from '../../src/db/message-retention';
import { newId } from '../../src/db/ids';
import { insertTask } from '../../src/db/tasks';
import { partitionClause, partitionRange } from '../../src/db/partitions';
import { createTenant, createTestEnv, type TestEnv } from '../helpers/env';

/**
 * Per-plan message retention: a month holding only rows their tenants' plans have expired is emptied
 * whole; elsewhere a short-plan tenant's expired rows go in keyset batches, other tenants' rows stay;
 * a run out of budget stops and the next run finishes; a started task's rows (created at its start,
 * however old) stay while it may still write them.
 */
let env: TestEnv;
const NOW = new Date('2026-11-23T12:30:00Z');
const at = (iso: string) => new Date(`${iso}T08:00:00Z`);

beforeAll(async () => {
  env = await createTestEnv('plan_retention');
  await env.ctx.db.raw('ALTER TABLE messages REMOVE PARTITIONING');
  await env.ctx.db.raw(`ALTER TABLE messages ${partitionClause('created_at', partitionRange(NOW, 8, 1))}`);
});
afterAll(() => env.close());

async function tenantOn(plan: string): Promise<string> {
  const { tenantId } = await createTenant(env);
  await env.ctx.db('tenants').where({ id: tenantId }).update({ plan });
  return tenantId;
}

async function messagesAt(tenantId: string, created: Date, n = 1): Promise<string[]> {
  const rows = Array.from({ length: n }, () => ({
    id: newId(), tenant_id: tenantId, account_id: newId(), conversation_id: `c-${randomBytes(3).toString('hex')}`,
    message_type: 'text', content: '{}', status: 'sent', created_at: created,
  }));
  await env.ctx.db('messages').insert(rows);
  return rows.map((r) => r.id);
}

const left = async (ids: string[]) => (await env.ctx.db('messages').whereIn('id', ids).pluck('id')).sort();
const partitionRows = async (name: string) => Number((await env.ctx.db.raw(`SELECT COUNT(*) AS n FROM messages PARTITION (${name})`))[0][0].n);

test('whole expired months are emptied at once; elsewhere only short-plan rows past retention go, in batches', async () => {
  const planDays = { basic: 30, pro: 90 };
  const [basic, pro, standard] = [await tenantOn('basic'), await tenantOn('pro'), await tenantOn('standard')];
  // July: only basic and pro rows, all past both retentions (pro keeps from Aug 25): emptied whole.
  const july = [...(await messagesAt(basic, at('2026-07-03'), 3)), ...(await messagesAt(pro, at('2026-07-20'), 2))];
  // June: a standard tenant (no shorter retention) keeps the month; basic's row goes by itself.
  const juneBasic = await messagesAt(basic, at('2026-06-10'));
  const juneStandard = await messagesAt(standard, at('2026-06-11'));
  // August: pro's row of Aug 10 is past 90 days, its Aug 30 row not yet; the standard row stays.
  const augPro = await messagesAt(pro, at('2026-08-10'));
  const augKept = [...(await messagesAt(pro, at('2026-08-30'))), ...(await messagesAt(standard, at('2026-08-12')))];
  // September and October: basic's rows before Oct 24 go (five in September: several batches of 2).
  const basicOld = [...(await messagesAt(basic, at('2026-09-10'), 5)), ...(await messagesAt(basic, at('2026-10-20')))];
  const kept = [...(await messagesAt(pro, at('2026-09-12'))), ...(await messagesAt(basic, at('2026-10-30'))), ...(await messagesAt(basic, at('2026-11-13')))];

  const result = await applyPlanRetention(env.ctx.db, planDays, NOW, { batch: 2, budgetMs: 60_000 });

  expect(result.truncated).toEqual(['p202607']);
  expect(await partitionRows('p202607')).toBe(0);
  expect(await left(july)).toEqual([]);
  expect(await left([...juneBasic, ...augPro, ...basicOld])).toEqual([]);
  expect(await left([...juneStandard, ...augKept, ...kept])).toEqual([...juneStandard, ...augKept, ...kept].sort());
  expect(result.deleted).toEqual({ basic: 7, pro: 1 });
  expect(result.complete).toBe(true);

  // Nothing more to do on the next run.
  expect(await applyPlanRetention(env.ctx.db, planDays, NOW, { batch: 2, budgetMs: 60_000 })).toEqual({ truncated: [], deleted: {}, complete: true });
});

test('a run out of budget stops, and the next run deletes the rest', async () => {
  const planDays = { trial: 1 };
  const trial = await tenantOn('trial');
  const old = await messagesAt(trial, at('2026-11-05'), 4);
  const recent = await messagesAt(trial, new Date(NOW.getTime() - 3_600_000));

  const spent = await applyPlanRetention(env.ctx.db, planDays, NOW, { batch: 2, budgetMs: 0 });
  expect(spent).toEqual({ truncated: [], deleted: {}, complete: false });
  expect(await left(old)).toEqual([...old].sort());

  const next = await applyPlanRetention(env.ctx.db, planDays, NOW, { batch: 3, budgetMs: 60_000 });
  expect(next).toEqual({ truncated: [], deleted: { trial: 4 }, complete: true });
  expect(await left([...old, ...recent])).toEqual(recent);
});

test('a started task that still writes into an old month keeps that month and its tenant\'s rows from its start, until it ends', async () => {
  const planDays = { basic: 30 };
  const [writer, other] = [await tenantOn('basic'), await tenantOn('basic')];
  // The writer's task started on April 10 and is still running: its rows (expanded so far, and more to
  // come) are created at its start, in April.
  const taskId = newId();
  await insertTask(env.ctx.db, {
    id: taskId, tenant_id: writer, creator_id: newId(), task_name: 'old campaign', account_id: newId(), account_ids: [newId()], template_id: null,
    message_content: { content: { type: 'text', text: 'hello' } }, target_type: 'manual', target_config: { conversation_ids: [] },
    send_strategy: { rate_per_minute: 0, jitter: 0, retry: { max_attempts: 1, backoff_ms: 1000, backoff: 'fixed' }, error_threshold: 0 }, priority: 5, scheduled_time: null,
  });
  await env.ctx.db('batch_send_tasks').where({ id: taskId }).update({ status: 'running', start_time: at('2026-04-10') });
  const taskRows = await messagesAt(writer, at('2026-04-10'), 3);
  const writerMarch = await messagesAt(writer, at('2026-03-20'));
  const writerMay = await messagesAt(writer, at('2026-05-05'));
  const otherApril = await messagesAt(other, at('2026-04-12'), 2);
  const otherMay = await messagesAt(other, at('2026-05-06'));

  const during = await applyPlanRetention(env.ctx.db, planDays, NOW, { batch: 2, budgetMs: 60_000 });
  // March (only expired rows, no started task) is emptied whole; April is not, though every row in it
  // is past the plan; May holds only expired rows too, and goes whole.
  expect(during.truncated).toEqual(['p202603', 'p202605']);
  expect(await left(writerMarch)).toEqual([]);
  expect(await left([...otherMay, ...writerMay])).toEqual([]);
  // In April the other tenant's rows go one by one; the writer's from its task's start on stay.
  expect(await left(otherApril)).toEqual([]);
  expect(await left(taskRows)).toEqual([...taskRows].sort());
  expect(during.deleted).toEqual({ basic: 2 });

  // The task ends: the next run empties April.
  await env.ctx.db('batch_send_tasks').where({ id: taskId }).update({ status: 'completed' });
  const after = await applyPlanRetention(env.ctx.db, planDays, NOW, { batch: 2, budgetMs: 60_000 });
  expect(after.truncated).toEqual(['p202604']);
  expect(await left(taskRows)).toEqual([]);
});
