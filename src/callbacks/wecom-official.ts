import type { Knex } from 'knex';
import { newId } from '../db/ids';
import { CUSTOMER_PREFIX } from '../gateway/official/content';
import { previewOf, toDate, type ConversationUpdate } from './incoming-messages';

/**
 * WeCom's own callbacks (decrypted XML, stored as notify_type 100) mapped to what they mean for the
 * tenant's official accounts. The decision is pure (`officialActionOf`, `appMessageUpdate`); `applyContactChange` writes a contact change
 * inside the transaction that marks the event processed, so a repeat changes nothing twice.
 *  - `change_external_contact` add / edit / half-add → the customer is active for that staff member,
 *    and its conversation (`external:<external_userid>`) is active; del_external_contact /
 *    del_follow_user → deleted, and the conversation inactive once no staff member of the account has it;
 *  - messages to the app (text, image, …) and app events (enter_agent, click …) → the member's conversation,
 *    with `conversation.message` on the socket and to webhooks like a gateway's incoming message;
 *  - anything else stays stored and ignored.
 */
export type OfficialAction =
  | { kind: 'contact'; change: 'active' | 'deleted'; changeType: string; staff: string; externalUserId: string; at: Date }
  | { kind: 'app_message'; agentId: number; from: string; msgId: string; preview: string; at: Date; counts: boolean }
  | { kind: 'ignored'; why: string };

const ADD = new Set(['add_external_contact', 'edit_external_contact', 'add_half_external_contact']);
const DELETE = new Set(['del_external_contact', 'del_follow_user']);
const APP_MESSAGES = new Set(['text', 'image', 'voice', 'video', 'location', 'link', 'file']);

const str = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

export function officialActionOf(x: Record<string, unknown>, receivedAt: Date): OfficialAction {
  const at = toDate(x.CreateTime, receivedAt);
  const event = str(x.Event);
  const msgType = str(x.MsgType);
  if (msgType === 'event' && event === 'change_external_contact') {
    const changeType = str(x.ChangeType);
    const staff = str(x.UserID);
    const externalUserId = str(x.ExternalUserID);
    if (!staff || !externalUserId) return { kind: 'ignored', why: 'change_external_contact without UserID or ExternalUserID' };
    if (ADD.has(changeType)) return { kind: 'contact', change: 'active', changeType, staff, externalUserId, at };
    if (DELETE.has(changeType)) return { kind: 'contact', change: 'deleted', changeType, staff, externalUserId, at };
    return { kind: 'ignored', why: `change_external_contact ${changeType || '(no ChangeType)'} has no mapping` };
  }
  const agentId = Number(x.AgentID);
  const from = str(x.FromUserName);
  if (!Number.isInteger(agentId) || agentId <= 0 || !from) return { kind: 'ignored', why: `no mapping for ${msgType === 'event' ? `event ${event}` : `message type ${msgType || '(none)'}`}` };
  if (APP_MESSAGES.has(msgType)) {
    const preview = msgType === 'text' ? str(x.Content) : `[${msgType}]`;
    return { kind: 'app_message', agentId, from, msgId: str(x.MsgId), preview: previewOf(preview), at, counts: true };
  }
  if (msgType === 'event' && event) return { kind: 'app_message', agentId, from, msgId: '', preview: `[event ${event}]`, at, counts: false };
  return { kind: 'ignored', why: `no mapping for message type ${msgType || '(none)'}` };
}

export interface OfficialAccountRef {
  id: string;
  tenant_id: string;
}

/** The tenant's official accounts of a corp (and app, when the callback names one), by their credential hint. */
export async function officialAccountsOf(db: Knex, tenantId: string, corpId: string, agentId?: number): Promise<OfficialAccountRef[]> {
  const q = db('channel_credentials as c')
    .join('wework_accounts as a', 'a.id', 'c.account_id')
    .where({ 'c.tenant_id': tenantId, 'c.channel': 'official', 'a.channel': 'official' })
    .andWhereRaw(`JSON_VALUE(c.hint, '$.corp_id') = ?`, [corpId])
    .select('a.id', 'a.tenant_id');
  if (agentId !== undefined) q.andWhereRaw(`JSON_VALUE(c.hint, '$.agent_id') = ?`, [String(agentId)]);
  return q;
}

/** What a message or event to the app does to the member's conversation (applied like any incoming message). */
export function appMessageUpdate(a: Extract<OfficialAction, { kind: 'app_message' }>): ConversationUpdate {
  return { conversationId: a.from, conversationType: 'private', lastMsgTime: a.at, lastMsgContent: a.preview, lastSenderId: a.from, lastMsgId: a.msgId, count: a.counts ? 1 : 0 };
}

/** A customer-contact change: the customer per staff member (wecom_contacts) and its conversation. */
export async function applyContactChange(trx: Knex.Transaction, accounts: OfficialAccountRef[], a: Extract<OfficialAction, { kind: 'contact' }>): Promise<void> {
  const conversationId = `${CUSTOMER_PREFIX}${a.externalUserId}`;
  for (const acct of accounts) {
    // Only a newer change moves the row (callbacks may arrive out of order or twice).
    await trx.raw(
      `INSERT INTO wecom_contacts (id, tenant_id, account_id, external_userid, staff_userid, status, last_change, changed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON DUPLICATE KEY UPDATE
         status = IF(VALUES(changed_at) >= changed_at, VALUES(status), status),
         last_change = IF(VALUES(changed_at) >= changed_at, VALUES(last_change), last_change),
         changed_at = GREATEST(changed_at, VALUES(changed_at))`,
      [newId(), acct.tenant_id, acct.id, a.externalUserId, a.staff, a.change, a.changeType, a.at],
    );
    const stillHad = await trx('wecom_contacts').where({ account_id: acct.id, external_userid: a.externalUserId, status: 'active' }).first('id');
    await trx.raw(
      `INSERT INTO conversations (id, tenant_id, account_id, conversation_id, conversation_type, is_active, unread_count)
       VALUES (?, ?, ?, ?, 'private', ?, 0)
       ON DUPLICATE KEY UPDATE is_active = VALUES(is_active)`,
      [newId(), acct.tenant_id, acct.id, conversationId, stillHad ? 1 : 0],
    );
  }
}
