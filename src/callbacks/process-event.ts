import type { Knex } from 'knex';
import type { AppContext } from '../context';
import { publishWebhookEvents } from '../webhooks/publish';
import {
  claimCallbackEvent,
  failCallbackEvent,
  findAccountByGuid,
  finishCallbackEvent,
  getCallbackEvent,
  type AccountRef,
  type CallbackEventRow,
} from '../db/callbacks';
import { NOTIFY, type DeliveryReceipt, type GatewayCallback, type IncomingMessage } from '../gateway/callback-protocol';
import type { CallbackHandlers } from './handlers';
import { applyConversationUpdates, groupByConversation, isIncomingMessage, type ConversationUpdate } from './incoming-messages';
import { appMessageUpdate, applyContactChange, officialAccountsOf, officialActionOf } from './wecom-official';
import { parseXml } from './wxbizmsgcrypt';

/** A callback whose stored body cannot be understood: retrying will not help. */
export class PoisonCallbackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoisonCallbackError';
  }
}

/** Thrown inside the finishing transaction to roll it back when the claim is no longer ours. */
class LostClaim extends Error {}

export type ProcessResult =
  | { outcome: 'processed' | 'ignored'; note?: string }
  | { outcome: 'skipped'; status: string | 'missing' };

const ACCOUNT_EVENTS = new Set<number>([NOTIFY.online, NOTIFY.offline, NOTIFY.loginProgress]);

function parseGatewayBody(row: CallbackEventRow): GatewayCallback {
  let body: unknown;
  try {
    body = JSON.parse(row.raw_data);
  } catch {
    throw new PoisonCallbackError('raw_data is not valid JSON');
  }
  const b = body as Partial<GatewayCallback>;
  if (!b || typeof b !== 'object') throw new PoisonCallbackError('raw_data is not an object');
  return {
    event_id: String(b.event_id ?? ''),
    guid: row.guid,
    notify_type: row.notify_type,
    payload: b.payload && typeof b.payload === 'object' ? (b.payload as Record<string, unknown>) : {},
    timestamp: Number(b.timestamp ?? 0),
  };
}

function isReceipt(m: unknown): m is DeliveryReceipt {
  const x = m as Partial<DeliveryReceipt> | null;
  return (
    !!x &&
    x.kind === 'receipt' &&
    typeof x.msg_id === 'string' &&
    (x.client_msg_id === undefined || typeof x.client_msg_id === 'string') &&
    (x.status === 'delivered' || x.status === 'failed')
  );
}

/**
 * Processes one stored event: claim it (so concurrent deliveries apply once), route it by notify_type,
 * record the outcome. A thrown error leaves the event `failed` with the message and one more retry
 * counted; the queue decides whether another attempt follows.
 */
export async function processCallbackEvent(ctx: AppContext, id: string, handlers: CallbackHandlers): Promise<ProcessResult> {
  if (!(await claimCallbackEvent(ctx.db, id))) {
    const row = await getCallbackEvent(ctx.db, id);
    return { outcome: 'skipped', status: row?.status ?? 'missing' };
  }
  const row = await getCallbackEvent(ctx.db, id);
  if (!row) return { outcome: 'skipped', status: 'missing' };
  try {
    const result = await route(ctx, row, handlers);
    return result;
  } catch (err) {
    await failCallbackEvent(ctx.db, id, (err as Error).message || String(err));
    throw err;
  }
}

async function route(ctx: AppContext, row: CallbackEventRow, handlers: CallbackHandlers): Promise<ProcessResult> {
  if (row.notify_type === NOTIFY.wecomOfficial) {
    let parsed: Record<string, unknown>;
    try {
      parsed = parseXml(row.raw_data);
    } catch {
      throw new PoisonCallbackError('stored WeCom XML does not parse');
    }
    // Mapped onto the tenant's official accounts of that corp (guid = corp id); unknown kinds stay ignored.
    const action = officialActionOf(parsed, new Date(row.received_time));
    if (action.kind === 'ignored' || !row.tenant_id) return finish(ctx, row, 'ignored', { parsed, note: action.kind === 'ignored' ? action.why : 'no tenant' });
    const accounts = await officialAccountsOf(ctx.db, row.tenant_id, row.guid, action.kind === 'app_message' ? action.agentId : undefined);
    if (accounts.length === 0) return finish(ctx, row, 'ignored', { parsed, note: `no official account of corp ${row.guid}${action.kind === 'app_message' ? ` and agent ${action.agentId}` : ''}` });
    if (action.kind === 'app_message') {
      const update = appMessageUpdate(action);
      return finish(ctx, row, 'processed', { parsed, conversations: accounts.map((account) => ({ account, updates: [update] })) });
    }
    return finish(ctx, row, 'processed', { parsed, apply: (trx) => applyContactChange(trx, accounts, action), account: accounts[0] });
  }

  const callback = parseGatewayBody(row);
  const account = await findAccountByGuid(ctx.db, row.guid);

  if (ACCOUNT_EVENTS.has(row.notify_type)) {
    if (!handlers.account) return finish(ctx, row, 'ignored', { account, note: 'account callback handler not installed' });
    const result = (await handlers.account(ctx, callback)) as { handled?: boolean; outcome?: string } | undefined;
    const outcome = typeof result?.outcome === 'string' ? result.outcome : undefined;
    if (result?.handled === false) return finish(ctx, row, 'ignored', { account, parsed: { outcome }, note: `account handler: ${outcome ?? 'not handled'}` });
    return finish(ctx, row, 'processed', { account, parsed: outcome ? { outcome } : undefined });
  }

  if (row.notify_type === NOTIFY.messages) {
    const list = Array.isArray(callback.payload.messages) ? (callback.payload.messages as unknown[]) : [];
    const receipts = list.filter(isReceipt);
    const incoming = list.filter(isIncomingMessage);
    const notes: string[] = [];
    if (receipts.length > 0) {
      if (handlers.receipts) await handlers.receipts(ctx, row.guid, receipts);
      else notes.push(`${receipts.length} receipt(s) not applied: receipt handler not installed`);
    }
    if (incoming.length > 0 && !account) notes.push(`${incoming.length} incoming message(s) for unknown guid`);
    const skipped = list.length - receipts.length - incoming.length;
    if (skipped > 0) notes.push(`${skipped} unrecognised item(s) kept in raw_data`);
    return finish(ctx, row, 'processed', { account, incoming: account ? incoming : [], note: notes.join('; ') || undefined });
  }

  return finish(ctx, row, 'ignored', { account, note: `no handler for notify_type ${row.notify_type}` });
}

/**
 * Records the outcome; incoming messages are applied in the same transaction as the status change so a
 * crash cannot count unread messages twice.
 */
async function finish(
  ctx: AppContext,
  row: CallbackEventRow,
  status: 'processed' | 'ignored',
  opts: {
    account?: AccountRef;
    incoming?: IncomingMessage[];
    /** Conversation changes already decided per account (official callbacks), applied like incoming messages. */
    conversations?: ConversationChanges[];
    parsed?: unknown;
    note?: string;
    apply?: (trx: Knex.Transaction) => Promise<unknown>;
  },
): Promise<ProcessResult> {
  const tenantId = row.tenant_id ?? opts.account?.tenant_id ?? opts.conversations?.[0]?.account.tenant_id ?? null;
  const changes: ConversationChanges[] = [...(opts.conversations ?? [])];
  if (opts.account && opts.incoming?.length) changes.push({ account: opts.account, updates: groupByConversation(opts.incoming, row.received_time) });
  const finished = await ctx.db
    .transaction(async (trx) => {
      for (const { account, updates } of changes) {
        await applyConversationUpdates(trx, account, updates);
        await publishWebhookEvents(trx, account.tenant_id, updates.map((u) => ({ type: 'conversation.message' as const, data: conversationMessagePayload(account.id, u) })));
      }
      if (opts.apply) await opts.apply(trx);
      if (!(await finishCallbackEvent(trx, row.id, { status, tenantId, parsed: opts.parsed, note: opts.note ?? null }))) {
        throw new LostClaim();
      }
      return true;
    })
    .catch((err) => {
      if (err instanceof LostClaim) return false;
      throw err;
    });
  if (!finished) return { outcome: 'skipped', status: 'reclaimed' };
  // Lag from receipt at the webhook to the event being applied (InfluxDB `callback_lag`).
  ctx.metrics.recordCallbackLag({ tenantId, eventType: row.event_type, lagMs: Date.now() - new Date(row.received_time).getTime() });
  for (const { account, updates } of changes) {
    for (const u of updates) ctx.realtime.toTenant(account.tenant_id, 'conversation.message', conversationMessagePayload(account.id, u));
  }
  return { outcome: status, note: opts.note };
}

interface ConversationChanges {
  account: { id: string; tenant_id: string };
  updates: ConversationUpdate[];
}

/** The `conversation.message` payload, the same on the socket and in the webhook. */
function conversationMessagePayload(accountId: string, u: ConversationUpdate): Record<string, unknown> {
  return {
    account_id: accountId,
    conversation_id: u.conversationId,
    conversation_type: u.conversationType,
    last_msg_time: u.lastMsgTime.toISOString(),
    last_msg_content: u.lastMsgContent,
    sender_id: u.lastSenderId,
    msg_id: u.lastMsgId,
    new_messages: u.count,
  };
}
