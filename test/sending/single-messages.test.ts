import { createTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { waitFor } from '../helpers/wait';
import { onlineAccount, sendingSuite } from './helpers';

const s = sendingSuite('singlemsgs');

test('single messages: POST /messages with priority and scheduled time go through the same pipeline, not before their time', async () => {
  const { env, tenant: t } = s;
  const api = (p: string) => `${env.url}/api/v1${p}`;
  const get = async (id: string) => (await http('GET', api(`/messages/${id}`), { token: t.adminToken })).body;
  const a = await onlineAccount(env, t.tenantId);
  const now = await http('POST', api('/messages'), { token: t.adminToken, body: { account_id: a.id, conversation_id: 'solo', content: { type: 'text', text: 'hi {{n}}' }, variables: { n: 1 }, priority: 9 } });
  expect(now.status).toBe(202);
  expect(now.body).toMatchObject({ status: 'pending', priority: 9, content: { type: 'text', text: 'hi 1' } });
  const scheduledTime = new Date(Date.now() + 2500);
  const later = await http('POST', api('/messages'), {
    token: t.adminToken,
    body: { account_id: a.id, conversation_id: 'solo2', content: { type: 'text', text: 'later' }, scheduled_time: scheduledTime.toISOString() },
  });
  expect(later.status).toBe(202);
  const sent = await waitFor(() => get(now.body.id), 'the single message to be sent', { until: (m) => m.status === 'sent' });
  expect(sent.wework_msg_id).toBeTruthy();
  const sentLater = await waitFor(() => get(later.body.id), 'the scheduled message to be sent', { until: (m) => m.status === 'sent' });
  // It went, and not before its time: the gateway saw it no earlier than scheduled.
  const arrival = env.sim.sends.find((x) => x.key === later.body.id)!;
  expect(arrival.at).toBeGreaterThanOrEqual(scheduledTime.getTime());
  expect(new Date(sentLater.send_time).getTime()).toBeGreaterThanOrEqual(scheduledTime.getTime());
  expect(env.sim.control.ledger.deliveriesOf(now.body.id)).toBe(1);
  expect(env.sim.control.ledger.deliveriesOf(later.body.id)).toBe(1);

  const bad = await http('POST', api('/messages'), { token: t.adminToken, body: { account_id: a.id, conversation_id: 'x', content: { type: 'text', text: 'x' }, priority: 11 } });
  expect(bad.status).toBe(400);
  const other = await createTenant(env);
  expect((await http('GET', api(`/messages/${now.body.id}`), { token: other.adminToken })).status).toBe(404);
  const list = await http('GET', api(`/messages?account_id=${a.id}&status=sent`), { token: t.adminToken });
  expect(list.body.data.map((m: any) => m.id).sort()).toEqual([now.body.id, later.body.id].sort());
  const future = new Date(Date.now() + 3600_000).toISOString();
  expect((await http('GET', api(`/messages?account_id=${a.id}&from=${encodeURIComponent(future)}`), { token: t.adminToken })).body.data).toEqual([]);
  const window = await http('GET', api(`/messages?account_id=${a.id}&to=${encodeURIComponent(future)}&from=${encodeURIComponent(now.body.created_at)}`), { token: t.adminToken });
  expect(window.body.data).toHaveLength(2);
});
