import { Readable } from 'node:stream';
import { newId } from '../../src/db/ids';
import { http } from '../helpers/http';
import { onlineAccount, sendingSuite } from './helpers';

const s = sendingSuite('csvimport');

test('CSV import: streamed, per-row variables, bad rows reported with line numbers, duplicates skipped', async () => {
  const { env, tasks, tenant: t } = s;
  const a = await onlineAccount(env, t.tenantId);
  const csv = [
    'conversation_id,name,city',
    'c1,Ann,Paris',
    'c2,Bob', // wrong column count (line 3)
    ',Nobody,X', // empty conversation id (line 4)
    'c3,"Chris, Jr.",Rome',
    'c1,Dup,Again', // duplicate target
    'c4,,Oslo', // empty cell: the default applies
  ].join('\n');
  const fileId = newId();
  const key = `tenants/${t.tenantId}/import/${fileId}.csv`;
  await env.ctx.storage.put(key, Readable.from([Buffer.from(csv)]), { contentType: 'text/csv' });
  await env.ctx.db('files').insert({ id: fileId, tenant_id: t.tenantId, purpose: 'import', object_key: key, file_name: 't.csv', content_type: 'text/csv', size_bytes: csv.length });
  const tpl = await http('POST', `${env.url}/api/v1/templates`, {
    token: t.adminToken,
    body: { name: `csv-${fileId.slice(-6)}`, content: { type: 'text', text: '{{name}} in {{city}}' }, variables: [{ name: 'name', default: 'guest' }, { name: 'city', required: true }] },
  });
  const id = await tasks.create({ account_ids: [a.id], target_type: 'import', file_id: fileId, template_id: tpl.body.id, content: undefined });
  await tasks.start(id);
  const done = await tasks.waitForStatus(id, 'completed');
  expect(done).toMatchObject({ total_count: 3, sent_count: 3, skipped_count: 3 });
  expect(done.target_errors).toEqual([
    { line: 3, error: 'expected 3 columns, found 2' },
    { line: 4, error: 'conversation_id is empty' },
  ]);
  const texts = Object.fromEntries(
    (await env.ctx.db('messages').where({ batch_id: id })).map((m: any) => [m.conversation_id, (typeof m.content === 'string' ? JSON.parse(m.content) : m.content).text]),
  );
  expect(texts).toEqual({ c1: 'Ann in Paris', c3: 'Chris, Jr. in Rome', c4: 'guest in Oslo' });
});
