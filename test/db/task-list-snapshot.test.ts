import { newId } from '../../src/db/ids';
import { listMessages } from '../../src/db/messages';
import { createTestEnv, type TestEnv } from '../helpers/env';

/**
 * A task's recipient list without a status filter merges one read per status. Messages change status
 * while a campaign runs, so those reads must see one moment: otherwise a message that moves between two
 * of them is listed twice (the console then kept stale rows under one React key) or not at all.
 */
let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('tasklistsnapshot');
});
afterAll(() => env.close());

test('the unfiltered list of a task whose messages are changing status holds each message exactly once', async () => {
  const tenantId = newId();
  const taskId = newId();
  const createdAt = new Date();
  const ids = Array.from({ length: 60 }, () => newId());
  await env.ctx.db('messages').insert(
    ids.map((id) => ({ id, tenant_id: tenantId, account_id: 'a1', conversation_id: `c-${id}`, message_type: 'text', content: '{}', status: 'pending', batch_id: taskId, created_at: createdAt })),
  );
  // Another connection walks the messages through the statuses the list reads in turn, as a sender does.
  let stop = false;
  const flips = (async () => {
    const walk = ['sending', 'sent', 'delivered', 'pending'];
    for (let i = 0; !stop; i++) {
      await env.ctx.db('messages').whereIn('id', ids.filter((_, k) => k % 3 === i % 3)).update({ status: walk[i % walk.length] });
    }
  })();
  const problems: string[] = [];
  try {
    for (let round = 0; round < 60 && problems.length === 0; round++) {
      const page = await listMessages(env.ctx.db, tenantId, { task_id: taskId }, { limit: 100 });
      const listed = page.data.map((r) => r.id);
      if (new Set(listed).size !== listed.length) problems.push(`round ${round}: ${listed.length - new Set(listed).size} listed twice`);
      if (new Set(listed).size !== ids.length) problems.push(`round ${round}: ${ids.length - new Set(listed).size} missing`);
    }
  } finally {
    stop = true;
    await flips;
  }
  expect(problems).toEqual([]);
});
