import { up as revokeOrphanedKeys } from '../../migrations/20261130_1900_revoke_orphaned_api_keys';
import { insertApiKey } from '../../src/db/api-keys';
import { insertUser } from '../../src/db/users';
import { createTenant, createTestEnv, type TestEnv } from '../helpers/env';

/**
 * Issue 8, finding 7, for data written before the rule: keys whose creating operator was already
 * deactivated or deleted (and keys those keys made) are revoked by the migration; others are kept.
 */
let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('orphankeys');
});
afterAll(() => env.close());

test('the migration revokes keys of inactive and deleted creators, transitively, and nothing else', async () => {
  const t = await createTenant(env);
  const db = env.ctx.db;
  const user = async (name: string, status: string) => {
    const id = await insertUser(db, { tenantId: t.tenantId, username: name, email: `${name}@example.test`, passwordHash: 'x' });
    await db('users').where({ id }).update({ status });
    return id;
  };
  const key = (name: string, createdBy: string) =>
    insertApiKey(db, { tenantId: t.tenantId, name, secret: `wwp_${name}_secret_${Math.random()}`, prefixLength: 12, permissions: ['*'], createdBy });
  const gone = await user('gone', 'deleted');
  const away = await user('away', 'inactive');
  const here = await user('here', 'active');
  const goneKey = await key('gone-key', gone);
  const goneChild = await key('gone-child', goneKey);
  const goneGrandchild = await key('gone-grandchild', goneChild);
  const awayKey = await key('away-key', away);
  const hereKey = await key('here-key', here);
  const hereChild = await key('here-child', hereKey);

  await revokeOrphanedKeys(db);
  const revoked = async (id: string) => (await db('api_keys').where({ id }).first()).revoked_at !== null;
  for (const id of [goneKey, goneChild, goneGrandchild, awayKey]) expect(await revoked(id)).toBe(true);
  for (const id of [hereKey, hereChild]) expect(await revoked(id)).toBe(false);
});
