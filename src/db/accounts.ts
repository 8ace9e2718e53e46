import type { Knex } from 'knex';
import { publishWebhookEvent } from '../webhooks/publish';
import { assertTransition, canTransition, type AccountStatus, type OperatorType } from '../domain/account-state';
import { NotFoundError } from '../errors';
import type { RealtimePublisher } from '../realtime/publisher';
import { newId } from './ids';
import { parseJson, toJson } from './json';

export interface AccountRow {
  id: string;
  tenant_id: string;
  user_id: string | null;
  account_name: string;
  phone: string | null;
  email: string | null;
  guid: string | null;
  /** Which gateway serves the account (src/channels/channels.ts). */
  channel: string;
  qr_code_url: string | null;
  status: AccountStatus;
  config: Record<string, unknown>;
  user_info: Record<string, unknown> | null;
  last_login_time: Date | null;
  last_heartbeat_time: Date | null;
  login_retry_count: number;
  error_message: string | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = [
  'id',
  'tenant_id',
  'user_id',
  'account_name',
  'phone',
  'email',
  'guid',
  'channel',
  'qr_code_url',
  'status',
  'config',
  'user_info',
  'last_login_time',
  'last_heartbeat_time',
  'login_retry_count',
  'error_message',
  'created_at',
  'updated_at',
];

export function decodeAccount(row: Record<string, unknown>): AccountRow {
  return {
    ...(row as unknown as AccountRow),
    config: parseJson(row.config, {}),
    user_info: parseJson(row.user_info, null),
  };
}

/** Tenant-scoped lookup: another tenant's id is simply not found. */
export async function findAccount(db: Knex | Knex.Transaction, tenantId: string, id: string): Promise<AccountRow | undefined> {
  const row = await db('wework_accounts').select(COLUMNS).where({ tenant_id: tenantId, id }).first();
  return row ? decodeAccount(row) : undefined;
}

export async function getAccount(db: Knex | Knex.Transaction, tenantId: string, id: string): Promise<AccountRow> {
  const a = await findAccount(db, tenantId, id);
  if (!a) throw new NotFoundError('account', id);
  return a;
}

/** For system paths (workers, callbacks) that start from an id or guid rather than a request. */
export async function findAccountById(db: Knex | Knex.Transaction, id: string): Promise<AccountRow | undefined> {
  const row = await db('wework_accounts').select(COLUMNS).where({ id }).first();
  return row ? decodeAccount(row) : undefined;
}

export async function findAccountByGuid(db: Knex | Knex.Transaction, guid: string): Promise<AccountRow | undefined> {
  const row = await db('wework_accounts').select(COLUMNS).where({ guid }).first();
  return row ? decodeAccount(row) : undefined;
}

export async function accountNameTaken(db: Knex | Knex.Transaction, tenantId: string, name: string, exceptId?: string): Promise<boolean> {
  const q = db('wework_accounts').where({ tenant_id: tenantId, account_name: name });
  if (exceptId) q.whereNot({ id: exceptId });
  return Boolean(await q.first('id'));
}

export interface NewAccount {
  /** Chosen by the caller when other rows (sealed credentials) are bound to it before the insert. */
  id?: string;
  tenantId: string;
  accountName: string;
  guid: string;
  channel?: string;
  userId?: string | null;
  phone?: string | null;
  email?: string | null;
  config?: Record<string, unknown>;
  /** Who created it (history operator_id): the operator, or null for an API key. */
  operatorId?: string | null;
}

/**
 * Inserts an account after checking the tenant's max_accounts under a lock on the tenant row, so two
 * concurrent creates cannot both take the last slot. Returns null when the quota is full.
 */
export async function insertAccountWithinQuota(trx: Knex.Transaction, a: NewAccount): Promise<{ id: string } | { quotaExceeded: number }> {
  const tenant = await trx('tenants').select('max_accounts').where({ id: a.tenantId }).forUpdate().first();
  const max = Number(tenant?.max_accounts ?? 0);
  const [{ n }] = await trx('wework_accounts').where({ tenant_id: a.tenantId }).count({ n: '*' });
  if (Number(n) >= max) return { quotaExceeded: max };
  const id = a.id ?? newId();
  await trx('wework_accounts').insert({
    id,
    tenant_id: a.tenantId,
    user_id: a.userId ?? null,
    account_name: a.accountName,
    phone: a.phone ?? null,
    email: a.email ?? null,
    guid: a.guid,
    channel: a.channel ?? 'simulator',
    status: 'created',
    config: toJson(a.config ?? {}),
  });
  await trx('account_status_history').insert({
    tenant_id: a.tenantId,
    account_id: id,
    old_status: null,
    new_status: 'created',
    reason: 'created',
    operator_id: a.operatorId ?? null,
    operator_type: 'user',
  });
  return { id };
}

export interface AccountPatch {
  account_name?: string;
  phone?: string | null;
  email?: string | null;
  user_id?: string | null;
  config?: Record<string, unknown>;
}

export async function updateAccountFields(db: Knex | Knex.Transaction, tenantId: string, id: string, patch: AccountPatch): Promise<void> {
  const row: Record<string, unknown> = { ...patch };
  if (patch.config !== undefined) row.config = toJson(patch.config);
  if (Object.keys(row).length > 0) await db('wework_accounts').where({ tenant_id: tenantId, id }).update(row);
}

/** Points the account at a new gateway instance (the old one is gone from the gateway). */
export async function replaceAccountGuid(db: Knex | Knex.Transaction, id: string, guid: string): Promise<void> {
  await db('wework_accounts').where({ id }).update({ guid });
}

export async function deleteAccountRow(trx: Knex.Transaction, tenantId: string, id: string): Promise<void> {
  await trx('conversations').where({ tenant_id: tenantId, account_id: id }).delete();
  await trx('wework_accounts').where({ tenant_id: tenantId, id }).delete();
}

export interface AccountFilters {
  status?: AccountStatus[];
  q?: string;
}

export function accountListQuery(db: Knex, tenantId: string, f: AccountFilters): Knex.QueryBuilder {
  const q = db('wework_accounts').select(COLUMNS).where({ tenant_id: tenantId });
  if (f.status?.length) q.whereIn('status', f.status);
  if (f.q) q.where('account_name', 'like', `%${f.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  return q;
}

// ---- transitions ---------------------------------------------------------------------------------

/** Columns a transition may set together with the status. */
export interface TransitionPatch {
  qr_code_url?: string | null;
  user_info?: Record<string, unknown> | null;
  last_login_time?: Date | null;
  last_heartbeat_time?: Date | null;
  login_retry_count?: number;
  error_message?: string | null;
}

export interface TransitionInput {
  accountId: string;
  /** When given, the account must belong to this tenant (API paths). */
  tenantId?: string;
  to: AccountStatus;
  reason: string;
  errorMessage?: string | null;
  extra?: Record<string, unknown>;
  operatorId?: string | null;
  operatorType: OperatorType;
  /**
   * System paths pass the states they expect the account to be in: if it has moved on meanwhile (a
   * callback raced a poll), nothing happens and `changed` is false. Without it, an illegal transition
   * throws InvalidTransitionError (409 with current_state).
   */
  expectFrom?: readonly AccountStatus[];
  patch?: TransitionPatch | ((current: AccountRow) => TransitionPatch);
  /** Runs inside the transaction after the update (audit rows). */
  inTransaction?: (trx: Knex.Transaction, from: AccountStatus) => Promise<void>;
}

export interface TransitionResult {
  changed: boolean;
  from: AccountStatus;
  to: AccountStatus;
  account: AccountRow;
}

export interface TransitionDeps {
  db: Knex;
  realtime: RealtimePublisher;
}

/**
 * The only way an account's status changes: in one transaction, lock the row, check the state machine,
 * update the row and append account_status_history; after commit, publish `account.status`.
 */
export async function transitionAccount(deps: TransitionDeps, t: TransitionInput): Promise<TransitionResult> {
  const result = await deps.db.transaction(async (trx) => {
    const q = trx('wework_accounts').select(COLUMNS).where({ id: t.accountId }).forUpdate();
    if (t.tenantId) q.andWhere({ tenant_id: t.tenantId });
    const raw = await q.first();
    if (!raw) throw new NotFoundError('account', t.accountId);
    const current = decodeAccount(raw);
    const from = current.status;
    if (t.expectFrom && (!t.expectFrom.includes(from) || !canTransition(from, t.to))) {
      return { changed: false, from, to: t.to, account: current };
    }
    assertTransition(from, t.to);
    const patch = typeof t.patch === 'function' ? t.patch(current) : (t.patch ?? {});
    const update: Record<string, unknown> = { status: t.to };
    for (const [k, v] of Object.entries(patch)) update[k] = k === 'user_info' ? toJson(v) : v;
    await trx('wework_accounts').where({ id: t.accountId }).update(update);
    await trx('account_status_history').insert({
      tenant_id: current.tenant_id,
      account_id: t.accountId,
      old_status: from,
      new_status: t.to,
      reason: t.reason.slice(0, 500),
      error_message: t.errorMessage ?? null,
      extra_data: toJson(t.extra),
      operator_id: t.operatorId ?? null,
      operator_type: t.operatorType,
    });
    if (t.inTransaction) await t.inTransaction(trx, from);
    await publishWebhookEvent(trx, current.tenant_id, 'account.status', { account_id: t.accountId, old_status: from, new_status: t.to, reason: t.reason, at: new Date().toISOString() });
    const after = decodeAccount((await trx('wework_accounts').select(COLUMNS).where({ id: t.accountId }).first())!);
    return { changed: true, from, to: t.to, account: after };
  });
  if (result.changed) {
    deps.realtime.toTenant(result.account.tenant_id, 'account.status', {
      account_id: result.account.id,
      old_status: result.from,
      new_status: result.to,
      reason: t.reason,
      at: new Date().toISOString(),
    });
  }
  return result;
}

/** Heartbeats for many online accounts in one statement (watchdog). */
export async function recordHeartbeats(db: Knex, beats: Array<{ id: string; at: Date }>): Promise<number> {
  if (beats.length === 0) return 0;
  const cases = beats.map(() => 'WHEN ? THEN ?').join(' ');
  const bindings: Array<string | Date> = [];
  for (const b of beats) bindings.push(b.id, b.at);
  const ids = beats.map((b) => b.id);
  const res = await db.raw(
    `UPDATE wework_accounts SET last_heartbeat_time = CASE id ${cases} END
     WHERE status = 'online' AND id IN (${ids.map(() => '?').join(',')})`,
    [...bindings, ...ids],
  );
  return Number((res as [{ affectedRows?: number }])[0]?.affectedRows ?? 0);
}

/** Online accounts in id order, one batch after `afterId` (system-wide; the watchdog walks them). */
export async function onlineAccountsBatch(db: Knex, afterId: string, limit: number): Promise<Array<Pick<AccountRow, 'id' | 'tenant_id' | 'guid' | 'last_heartbeat_time' | 'last_login_time' | 'updated_at'>>> {
  return db('wework_accounts')
    .select('id', 'tenant_id', 'guid', 'last_heartbeat_time', 'last_login_time', 'updated_at')
    .where('status', 'online')
    .andWhere('id', '>', afterId)
    .orderBy('id')
    .limit(limit);
}

/** Online accounts whose last heartbeat is older than `before` (or missing). */
export async function staleOnlineAccounts(
  db: Knex,
  before: Date,
  limit: number,
): Promise<Array<{ id: string; tenant_id: string; last_heartbeat_time: Date | null; updated_at: Date }>> {
  return db('wework_accounts')
    .select('id', 'tenant_id', 'last_heartbeat_time', 'updated_at')
    .where('status', 'online')
    .andWhere((w) => w.where('last_heartbeat_time', '<', before).orWhere((x) => x.whereNull('last_heartbeat_time').andWhere('updated_at', '<', before)))
    .orderBy('last_heartbeat_time')
    .limit(limit);
}

export function historyQuery(db: Knex, tenantId: string, accountId: string): Knex.QueryBuilder {
  return db('account_status_history')
    .select('id', 'old_status', 'new_status', 'reason', 'error_message', 'extra_data', 'operator_id', 'operator_type', 'created_at')
    .where({ tenant_id: tenantId, account_id: accountId });
}
