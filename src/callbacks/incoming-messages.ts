import type { Knex } from 'knex';
import type { IncomingMessage } from '../gateway/callback-protocol';
import { newId } from '../db/ids';

/**
 * Incoming messages of one callback → per-conversation "last message" and unread count. Pure grouping
 * first (one upsert per conversation, not per message), then one statement per conversation that keeps
 * the newest message even when callbacks arrive out of order.
 */
export interface ConversationUpdate {
  conversationId: string;
  conversationType: 'private' | 'group';
  lastMsgTime: Date;
  lastMsgContent: string;
  lastSenderId: string;
  lastMsgId: string;
  count: number;
}

const PREVIEW_CHARS = 500;

/** Gateways send seconds or milliseconds; anything past year 2286 in seconds is really milliseconds. */
export function toDate(sentAt: unknown, fallback: Date): Date {
  const n = Number(sentAt);
  if (!Number.isFinite(n) || n <= 0) return fallback;
  return new Date(n > 1e11 ? n : n * 1000);
}

/** A short human preview of message content, as a conversation list shows it. */
export function previewOf(content: unknown): string {
  let text: string;
  if (typeof content === 'string') text = content;
  else if (content && typeof content === 'object') {
    const c = content as Record<string, unknown>;
    if (typeof c.text === 'string') text = c.text;
    else if (typeof c.content === 'string') text = c.content;
    else if (typeof c.type === 'string') text = `[${c.type}]`;
    else text = JSON.stringify(content);
  } else text = content === undefined || content === null ? '' : String(content);
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS - 1)}…` : text;
}

export function isIncomingMessage(m: unknown): m is IncomingMessage {
  const x = m as Partial<IncomingMessage> | null;
  return !!x && x.kind === 'incoming' && typeof x.conversation_id === 'string' && x.conversation_id.length > 0 && x.conversation_id.length <= 100;
}

export function groupByConversation(messages: IncomingMessage[], receivedAt: Date): ConversationUpdate[] {
  const byId = new Map<string, ConversationUpdate>();
  for (const m of messages) {
    const at = toDate(m.sent_at, receivedAt);
    const cur = byId.get(m.conversation_id);
    if (!cur) {
      byId.set(m.conversation_id, {
        conversationId: m.conversation_id,
        conversationType: m.conversation_type === 'group' ? 'group' : 'private',
        lastMsgTime: at,
        lastMsgContent: previewOf(m.content),
        lastSenderId: String(m.sender_id ?? ''),
        lastMsgId: String(m.msg_id ?? ''),
        count: 1,
      });
      continue;
    }
    cur.count++;
    if (at >= cur.lastMsgTime) {
      cur.lastMsgTime = at;
      cur.lastMsgContent = previewOf(m.content);
      cur.lastSenderId = String(m.sender_id ?? '');
      cur.lastMsgId = String(m.msg_id ?? '');
    }
  }
  return [...byId.values()];
}

/**
 * Upserts each conversation of the account: unread_count grows by the number of new messages; the last
 * message only moves forward in time. Assignment order matters (MySQL evaluates left to right): the
 * content comparison must see the old last_msg_time.
 */
export async function applyConversationUpdates(
  db: Knex | Knex.Transaction,
  account: { id: string; tenant_id: string },
  updates: ConversationUpdate[],
): Promise<void> {
  for (const u of updates) {
    await db.raw(
      `INSERT INTO conversations (id, tenant_id, account_id, conversation_id, conversation_type, last_msg_time, last_msg_content, unread_count)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON DUPLICATE KEY UPDATE
         last_msg_content = IF(last_msg_time IS NULL OR VALUES(last_msg_time) >= last_msg_time, VALUES(last_msg_content), last_msg_content),
         last_msg_time = IF(last_msg_time IS NULL OR VALUES(last_msg_time) >= last_msg_time, VALUES(last_msg_time), last_msg_time),
         unread_count = COALESCE(unread_count, 0) + VALUES(unread_count),
         is_active = 1`,
      [newId(), account.tenant_id, account.id, u.conversationId, u.conversationType, u.lastMsgTime, u.lastMsgContent, u.count],
    );
  }
}
