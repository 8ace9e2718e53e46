import { newId } from '../../src/db/ids';
import { createTestEnv, type TestEnv } from '../helpers/env';
import * as migration from '../../migrations/20261201_1000_receipts_by_message_id';

/** The move of kept receipts from the gateway's id to the message id (issue 17), over rows kept before it. */
let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('receiptsmigration');
});
afterAll(() => env.close());

async function message(accountId: string, status: string, weworkMsgId: string | null): Promise<string> {
  const id = newId();
  await env.ctx.db('messages').insert({ id, tenant_id: newId(), account_id: accountId, conversation_id: 'c1', message_type: 'text', content: '{}', status, wework_msg_id: weworkMsgId });
  return id;
}

const indexesOf = async (table: string): Promise<string[]> => {
  const [rows] = await env.ctx.db.raw('SELECT DISTINCT INDEX_NAME AS i FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?', [table]);
  return (rows as Array<{ i: string }>).map((r) => r.i).sort();
};

test('kept receipts whose message is recorded get its id, the rest are dropped, and no index of gateway ids is left', async () => {
  await migration.down(env.ctx.db);
  expect(await indexesOf('messages')).toContain('idx_wework_msg_id');
  const account = newId();
  const recorded = await message(account, 'sent', 'gw-recorded');
  await message(account, 'sending', null);
  const kept = (wework_msg_id: string) => ({ account_id: account, wework_msg_id, status: 'delivered', receipt_time: new Date() });
  // Kept under the old scheme: one whose send is recorded by now, one still waiting (no key to find it by).
  await env.ctx.db('pending_receipts').insert([kept('gw-recorded'), kept('gw-waiting')]);

  await migration.up(env.ctx.db);
  expect(await env.ctx.db('pending_receipts').select('account_id', 'message_id', 'wework_msg_id')).toEqual([{ account_id: account, message_id: recorded, wework_msg_id: 'gw-recorded' }]);
  expect(await indexesOf('messages')).not.toContain('idx_wework_msg_id');
  expect(await indexesOf('pending_receipts')).toEqual(['PRIMARY', 'idx_created_at']);
});
