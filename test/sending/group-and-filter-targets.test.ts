import { newId } from '../../src/db/ids';
import { onlineAccount, sendingSuite } from './helpers';

const s = sendingSuite('convtargets');

test('group and filter targets come from the accounts’ conversations', async () => {
  const { env, tasks, tenant: t } = s;
  const a = await onlineAccount(env, t.tenantId);
  const b = await onlineAccount(env, t.tenantId);
  const conv = (account: string, id: string, type: 'group' | 'private', tags: string[], last: string | null, active = 1) => ({
    id: newId(),
    tenant_id: t.tenantId,
    account_id: account,
    conversation_id: id,
    conversation_name: `name-${id}`,
    conversation_type: type,
    tags: JSON.stringify(tags),
    last_msg_time: last ? new Date(last) : null,
    is_active: active,
  });
  await env.ctx.db('conversations').insert([
    conv(a.id, 'g1', 'group', ['vip'], '2026-11-01T00:00:00Z'),
    conv(a.id, 'g2', 'group', [], '2026-10-01T00:00:00Z'),
    conv(a.id, 'p1', 'private', ['vip'], '2026-11-10T00:00:00Z'),
    conv(a.id, 'g-old', 'group', ['vip'], '2026-11-01T00:00:00Z', 0),
    conv(b.id, 'g1', 'group', ['vip'], '2026-11-20T00:00:00Z'), // same id on another account: a different target
    conv(b.id, 'p2', 'private', [], '2026-11-21T00:00:00Z'),
  ]);
  const group = await tasks.create({ account_ids: [a.id, b.id], target_type: 'group', content: { type: 'text', text: 'hi {{conversation_name}}' } });
  await tasks.start(group);
  await tasks.waitForStatus(group, 'completed');
  const sent = await env.ctx.db('messages').select('account_id', 'conversation_id', 'content').where({ batch_id: group });
  expect(sent.map((m: any) => `${m.account_id === a.id ? 'a' : 'b'}:${m.conversation_id}`).sort()).toEqual(['a:g1', 'a:g2', 'b:g1']);
  expect((typeof sent[0].content === 'string' ? JSON.parse(sent[0].content) : sent[0].content).text).toMatch(/^hi name-g/);

  const filtered = await tasks.create({
    account_ids: [a.id, b.id],
    target_type: 'filter',
    filter: { tags: ['vip'], last_message_after: '2026-11-05T00:00:00Z' },
  });
  await tasks.start(filtered);
  await tasks.waitForStatus(filtered, 'completed');
  const f = await env.ctx.db('messages').select('account_id', 'conversation_id').where({ batch_id: filtered });
  expect(f.map((m: any) => `${m.account_id === a.id ? 'a' : 'b'}:${m.conversation_id}`).sort()).toEqual(['a:p1', 'b:g1']);
});
