import { pollOfficialGroupSends } from '../../src/cron/jobs/official-group-send-poll';
import { startAccountLoginWorker } from '../../workers/account-login.worker';
import type { RunningWorker } from '../../workers';
import { FakeWecom } from '../fixtures/wecom-official-fake';
import { createOfficialAccount, fakeCorp, loginAndWait, officialClientFor } from '../gateway/official-support';
import { http } from '../helpers/http';
import { sendingSuite } from './helpers';

/**
 * End to end on the official channel: an official account logs in (access token), a task to two members
 * and two customers runs to completed through the real expand and send workers, the customer
 * group-sends wait for staff confirmation (the task's own stage), and the poll job turns WeCom's
 * per-customer results into delivered / failed with the reason.
 */
const s = sendingSuite('officialtask');
let fake: FakeWecom;
let login: RunningWorker;

beforeAll(async () => {
  fake = new FakeWecom();
  await fake.start();
  s.env.ctx.gateway.register('official', officialClientFor(s.env.ctx, fake));
  login = startAccountLoginWorker(s.env.ctx, { concurrency: 2 });
});
afterAll(async () => {
  await login?.close();
  await fake?.close();
});

test('a task on an official account: app messages and customer group-sends, completed, then staff confirmation and per-customer results', async () => {
  const corp = fakeCorp();
  fake.addCorp(corp);
  fake.addCustomer(corp.corpId, 'alice', 'wmFriend');
  const acct = await createOfficialAccount(s.env, s.tenant, corp, { sender_userid: 'alice' });
  await loginAndWait(s.env, s.tenant, acct.id, 'online');

  const id = await s.tasks.create({
    account_ids: [acct.id],
    content: { type: 'text', text: 'Hello {{name}}' },
    targets: [
      { conversation_id: 'bob', variables: { name: 'Bob' } },
      { conversation_id: 'carol', variables: { name: 'Carol' } },
      { conversation_id: 'external:wmFriend', variables: { name: 'Friend' } },
      { conversation_id: 'external:wmStranger', variables: { name: 'Stranger' } },
    ],
  });
  await s.tasks.start(id);
  const done = await s.tasks.waitForStatus(id, 'completed');
  expect(done).toMatchObject({ total_count: 4, sent_count: 4, failed_count: 0 });
  expect(fake.appMessages.filter((m) => m.corp_id === corp.corpId).map((m) => [m.touser, (m.text as { content: string }).content]).sort()).toEqual([
    ['bob', 'Hello Bob'],
    ['carol', 'Hello Carol'],
  ]);
  const progress = async () => (await http('GET', `${s.env.url}/api/v1/tasks/${id}/progress`, { token: s.tenant.adminToken })).body;
  expect(await progress()).toMatchObject({ stage: 'waiting_for_staff_confirmation', waiting_for_staff_confirmation: 2 });

  // The poll: app messages are final, the stranger is not a friend of alice, the friend waits for alice.
  const later = () => new Date(Date.now() + 60_000);
  await pollOfficialGroupSends(s.env.ctx, later());
  const rows = async () =>
    Object.fromEntries(
      (await s.env.ctx.db('messages').where({ batch_id: id }).select('conversation_id', 'status', 'error_code', 'error_message')).map((m: any) => [m.conversation_id, [m.status, m.error_code]]),
    );
  expect(await rows()).toEqual({
    bob: ['delivered', null],
    carol: ['delivered', null],
    'external:wmFriend': ['sent', null],
    'external:wmStranger': ['failed', 'not_a_friend'],
  });
  expect(await progress()).toMatchObject({ stage: 'waiting_for_staff_confirmation', waiting_for_staff_confirmation: 1 });

  const msgid = [...fake.groupSends.values()].find((g) => (g.body.external_userid as string[])[0] === 'wmFriend')!.msgid;
  fake.confirm(msgid, 'alice');
  await pollOfficialGroupSends(s.env.ctx, later());
  expect((await rows())['external:wmFriend']).toEqual(['delivered', null]);
  expect(await progress()).toMatchObject({ stage: 'done', waiting_for_staff_confirmation: 0 });
  expect(await s.tasks.get(id)).toMatchObject({ delivered_count: 3 });
});

test('markdown content reaches members as a markdown app message (the messages column takes the new type)', async () => {
  const corp = fakeCorp();
  fake.addCorp(corp);
  const acct = await createOfficialAccount(s.env, s.tenant, corp);
  await loginAndWait(s.env, s.tenant, acct.id, 'online');
  const id = await s.tasks.create({ account_ids: [acct.id], content: { type: 'markdown', text: '**Hi** {{name}}' }, targets: [{ conversation_id: 'alice', variables: { name: 'Alice' } }] });
  await s.tasks.start(id);
  expect(await s.tasks.waitForStatus(id, 'completed')).toMatchObject({ total_count: 1, sent_count: 1, failed_count: 0 });
  expect(fake.appMessages.filter((m) => m.corp_id === corp.corpId && m.msgtype === 'markdown').map((m) => m.markdown)).toEqual([{ content: '**Hi** Alice' }]);
  expect(await s.env.ctx.db('messages').where({ batch_id: id }).first('message_type')).toEqual({ message_type: 'markdown' });
});
