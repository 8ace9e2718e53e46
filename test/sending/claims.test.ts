/**
 * Claims move due pending rows to `sending` exactly once: one account at a time (`claimMessages`) or many
 * in one pair of statements (`claimMessagesOfMany`), each account getting only its own rows, in the claim
 * order, up to its limit.
 */
import { claimMessages, claimMessagesOfMany } from '../../src/db/messages';
import { expandedTask, onlineAccount, sendingSuite } from './helpers';

const s = sendingSuite('claims', { workers: false });

test('a batch of claims gives each account its own due rows up to its limit; what is claimed is not claimed again', async () => {
  const { env, tasks } = s;
  const [a, b] = [await onlineAccount(env, s.tenant.tenantId), await onlineAccount(env, s.tenant.tenantId)];
  const ta = await expandedTask(s, a.id, 7, 'running');
  const tb = await expandedTask(s, b.id, 3, 'running');

  const first = await claimMessagesOfMany(env.ctx.db, [
    { accountId: a.id, taskId: ta, limit: 5 },
    { accountId: b.id, taskId: tb, limit: 5 },
  ]);
  expect(first.get(a.id)).toHaveLength(5);
  expect(first.get(b.id)).toHaveLength(3);
  expect(new Set(first.get(a.id)!.map((m) => m.batch_id))).toEqual(new Set([ta]));
  expect(new Set(first.get(b.id)!.map((m) => m.batch_id))).toEqual(new Set([tb]));
  // Content comes back decoded, as the sender uses it.
  expect(typeof first.get(a.id)![0].content).toBe('object');

  const again = await claimMessagesOfMany(env.ctx.db, [
    { accountId: a.id, taskId: ta, limit: 5 },
    { accountId: b.id, taskId: tb, limit: 5 },
  ]);
  expect(again.get(a.id)).toHaveLength(2);
  expect(again.get(b.id)).toEqual([]);
  expect(await claimMessages(env.ctx.db, a.id, ta, 5)).toEqual([]);

  const claimedIds = [...first.get(a.id)!, ...again.get(a.id)!].map((m) => m.id);
  expect(new Set(claimedIds).size).toBe(7);
  expect(await tasks.statusCounts(ta)).toEqual({ sending: 7 });
  expect(await tasks.statusCounts(tb)).toEqual({ sending: 3 });
});
