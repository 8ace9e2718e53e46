import { createTenant, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { createSendingEnv, onlineAccount, type SendingEnv } from '../sending/helpers';

let env: SendingEnv;
let t: TestTenant;
beforeAll(async () => {
  env = await createSendingEnv('audience');
  t = await createTenant(env);
});
afterAll(() => env.close());

const api = (p: string) => `${env.url}/api/v1${p}`;

async function uploadCsv(text: string): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([text], { type: 'text/csv' }), 'audience.csv');
  const res = await fetch(api('/files?purpose=import'), { method: 'POST', headers: { authorization: `Bearer ${t.adminToken}` }, body: form });
  const json = (await res.json()) as { id: string };
  if (res.status !== 201) throw new Error(`upload: ${res.status} ${JSON.stringify(json)}`);
  return json.id;
}

test('manual audience: distinct recipients, duplicates and foreign accounts counted apart', async () => {
  const a = await onlineAccount(env, t.tenantId);
  const res = await http('POST', api('/tasks/audience'), {
    token: t.adminToken,
    body: {
      target_type: 'manual',
      account_ids: [a.id],
      targets: [{ conversation_id: 'c1' }, { conversation_id: 'c2' }, { conversation_id: 'c1' }, { conversation_id: 'c3', account_id: '00000000-0000-4000-8000-000000000000' }],
    },
  });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ target_type: 'manual', count: 2, duplicates: 1, problem_count: 1, sample: ['c1', 'c2'] });
  expect(res.body.problems[0]).toMatchObject({ index: 3, error: expect.stringContaining('not a sending account') });
});

test('CSV audience reports its bad rows by line before any task exists', async () => {
  const a = await onlineAccount(env, t.tenantId);
  const fileId = await uploadCsv('conversation_id,name\nc1,Ann\n,NoId\nc2,Bob,extra\nc3,Cy\n');
  const res = await http('POST', api('/tasks/audience'), { token: t.adminToken, body: { target_type: 'import', account_ids: [a.id], file_id: fileId } });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ count: 2, problem_count: 2, sample: ['c1', 'c3'] });
  expect(res.body.problems.map((p: any) => p.line).sort()).toEqual([3, 4]);
  expect(await env.ctx.db('batch_send_tasks').where({ tenant_id: t.tenantId }).count({ n: '*' }).first()).toMatchObject({ n: 0 });

  const badHeader = await uploadCsv('phone,name\n1,a\n');
  const refused = await http('POST', api('/tasks/audience'), { token: t.adminToken, body: { target_type: 'import', account_ids: [a.id], file_id: badHeader } });
  expect(refused.status).toBe(422);
  expect(refused.body.error.code).toBe('bad_csv_header');
});

test('filter audience counts the matching conversations of the chosen accounts only; unknown accounts and files are refused', async () => {
  const a = await onlineAccount(env, t.tenantId);
  const b = await onlineAccount(env, t.tenantId);
  const conv = (account_id: string, conversation_id: string, conversation_type: string) => ({
    id: `${account_id.slice(0, 8)}-${conversation_id}`,
    tenant_id: t.tenantId,
    account_id,
    conversation_id,
    conversation_type,
    is_active: 1,
  });
  await env.ctx.db('conversations').insert([conv(a.id, 'g1', 'group'), conv(a.id, 'g2', 'group'), conv(a.id, 'p1', 'private'), conv(b.id, 'g3', 'group')]);
  const groups = await http('POST', api('/tasks/audience'), { token: t.adminToken, body: { target_type: 'group', account_ids: [a.id] } });
  expect(groups.body).toMatchObject({ count: 2, sample: expect.arrayContaining(['g1', 'g2']) });
  const privates = await http('POST', api('/tasks/audience'), { token: t.adminToken, body: { target_type: 'filter', account_ids: [a.id, b.id], filter: { conversation_type: 'private' } } });
  expect(privates.body).toMatchObject({ count: 1, sample: ['p1'] });

  const other = await createTenant(env);
  const foreign = await http('POST', api('/tasks/audience'), { token: other.adminToken, body: { target_type: 'group', account_ids: [a.id] } });
  expect(foreign.status).toBe(422);
  expect(foreign.body.error.code).toBe('unknown_accounts');
  const noFile = await http('POST', api('/tasks/audience'), { token: t.adminToken, body: { target_type: 'import', account_ids: [a.id] } });
  expect(noFile.status).toBe(400);
  expect(JSON.stringify(noFile.body)).toContain('file_id');
});
