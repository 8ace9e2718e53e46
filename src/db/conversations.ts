import type { Knex } from 'knex';
import type { GatewayConversation } from '../gateway/types';
import { newId } from './ids';

const BATCH = 500;

/**
 * Upserts an account's conversations from the gateway in multi-row INSERT … ON DUPLICATE KEY UPDATE
 * batches (unique key account_id + conversation_id) and marks conversations the gateway no longer
 * lists inactive. Returns how many were synced and deactivated.
 */
export async function syncConversations(
  db: Knex,
  tenantId: string,
  accountId: string,
  convs: GatewayConversation[],
): Promise<{ synced: number; deactivated: number }> {
  for (let i = 0; i < convs.length; i += BATCH) {
    const rows = convs.slice(i, i + BATCH).map((c) => ({
      id: newId(),
      tenant_id: tenantId,
      account_id: accountId,
      conversation_id: c.conversationId.slice(0, 100),
      conversation_name: c.name.slice(0, 200),
      conversation_type: c.type,
      avatar_url: c.avatarUrl ?? null,
      member_count: c.memberCount,
      last_msg_time: c.lastMessageTime ?? null,
      is_active: 1,
    }));
    await db('conversations')
      .insert(rows)
      .onConflict(['account_id', 'conversation_id'])
      .merge(['conversation_name', 'conversation_type', 'avatar_url', 'member_count', 'last_msg_time', 'is_active']);
  }
  const listed = new Set(convs.map((c) => c.conversationId));
  const existing: Array<{ id: string; conversation_id: string }> = await db('conversations')
    .select('id', 'conversation_id')
    .where({ account_id: accountId, is_active: 1 });
  const gone = existing.filter((r) => !listed.has(r.conversation_id)).map((r) => r.id);
  for (let i = 0; i < gone.length; i += BATCH) {
    await db('conversations').whereIn('id', gone.slice(i, i + BATCH)).update({ is_active: 0 });
  }
  return { synced: convs.length, deactivated: gone.length };
}

export interface ConversationFilters {
  type?: 'private' | 'group';
  active?: boolean;
}

export function conversationListQuery(db: Knex, tenantId: string, accountId: string, f: ConversationFilters): Knex.QueryBuilder {
  const q = db('conversations')
    .select(
      'id',
      'conversation_id',
      'conversation_name',
      'conversation_type',
      'avatar_url',
      'member_count',
      'last_msg_time',
      'last_msg_content',
      'unread_count',
      'is_active',
      'is_pinned',
      'created_at',
      'updated_at',
    )
    .where({ tenant_id: tenantId, account_id: accountId });
  if (f.type) q.andWhere('conversation_type', f.type);
  if (f.active !== undefined) q.andWhere('is_active', f.active ? 1 : 0);
  return q;
}
