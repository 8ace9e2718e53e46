import { Router } from 'express';
import { z } from 'zod';
import { gatewayToApiError, viaGateway } from '../../accounts/gateway-errors';
import { enqueueAccountJob } from '../../accounts/jobs';
import { beginLoginAttempt, completeLogin, failLoginAttempt } from '../../accounts/lifecycle';
import { clearLoginState, loadQr } from '../../accounts/login-store';
import type { AppContext } from '../../context';
import {
  accountListQuery,
  accountNameTaken,
  decodeAccount,
  deleteAccountRow,
  getAccount,
  historyQuery,
  insertAccountWithinQuota,
  transitionAccount,
  updateAccountFields,
  type AccountRow,
} from '../../db/accounts';
import { CHANNELS, CREDENTIAL_SCHEMAS, credentialHint, credentialIdentity, type Channel } from '../../channels/channels';
import { credentialInUse, deleteSecret, isCredentialLookupConflict, saveSecret, secretSummaries, type CredentialSummary } from '../../db/channel-credentials';
import { conversationListQuery } from '../../db/conversations';
import { newId } from '../../db/ids';
import { parseJson } from '../../db/json';
import { ACCOUNT_STATUSES, LOGIN_IN_PROGRESS, isAccountStatus } from '../../domain/account-state';
import { ConflictError, InvalidTransitionError, NotFoundError, QuotaExceededError, UnprocessableError, ValidationError } from '../../errors';
import { isGatewayError } from '../../gateway/errors';
import { auditRequest } from '../audit';
import { requirePermission } from '../authenticate';
import { paginate, pageQuery, pageResponse } from '../pagination';
import { operatorIdOf, principalOf, tenantIdOf } from '../principal';
import { body, params, query } from '../validate';
import { documentRoute } from './route-docs';

const idParams = z.object({ id: z.string().uuid() });

const accountFields = z.object({
  account_name: z.string().trim().min(1).max(100),
  phone: z.string().trim().max(20).nullable().optional(),
  email: z.string().trim().email().max(100).nullable().optional(),
  user_id: z.string().uuid().nullable().optional(),
  config: z.record(z.unknown()).optional(),
});
const accountBody = accountFields.extend({
  channel: z.enum(CHANNELS).optional().openapi({ description: 'fixed at creation; default DEFAULT_ACCOUNT_CHANNEL' }),
  credentials: z.record(z.unknown()).optional().openapi({ description: 'channel credentials (wechaty: WechatyCredentials); stored encrypted, never returned' }),
});
const accountPatch = accountFields.partial();
const credentialsBody = z.object({ credentials: z.record(z.unknown()) });

/** The credentials of `channel`, validated by its schema (field names prefixed with `credentials.`). */
function parseCredentials(channel: Channel, raw: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const schema = CREDENTIAL_SCHEMAS[channel];
  if (!schema) {
    if (raw !== undefined) throw new ValidationError([{ field: 'credentials', message: `the ${channel} channel takes no credentials` }]);
    return undefined;
  }
  if (raw === undefined) throw new ValidationError([{ field: 'credentials', message: `required for the ${channel} channel` }]);
  const r = schema.safeParse(raw);
  if (!r.success) throw new ValidationError(r.error.issues.map((i) => ({ field: ['credentials', ...i.path].join('.'), message: i.message })));
  return r.data as Record<string, unknown>;
}

const listQuery = pageQuery.extend({
  status: z
    .string()
    .optional()
    .transform((v, c) => {
      if (!v) return undefined;
      const list = v.split(',').map((s) => s.trim());
      const bad = list.filter((s) => !isAccountStatus(s));
      if (bad.length) {
        c.addIssue({ code: 'custom', message: `unknown status ${bad.join(', ')} (one of ${ACCOUNT_STATUSES.join(', ')})` });
        return z.NEVER;
      }
      return list as (typeof ACCOUNT_STATUSES)[number][];
    })
    .openapi({ description: 'comma-separated statuses', example: 'online,offline' }),
  q: z.string().max(100).optional(),
});

const conversationsQuery = pageQuery.extend({
  type: z.enum(['private', 'group']).optional(),
  active: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
});

const verifyBody = z.object({ code: z.string().trim().min(1).max(20) });

const AccountOut = z
  .object({
    id: z.string(),
    account_name: z.string(),
    phone: z.string().nullable(),
    email: z.string().nullable(),
    user_id: z.string().nullable(),
    guid: z.string().nullable(),
    channel: z.string(),
    credentials: z
      .object({ configured: z.boolean(), hint: z.record(z.unknown()), updated_at: z.string() })
      .nullable()
      .openapi({ description: 'masked hint only; the secret itself is never returned' }),
    status: z.enum(ACCOUNT_STATUSES),
    qr_code_url: z.string().nullable(),
    config: z.record(z.unknown()),
    user_info: z.record(z.unknown()).nullable(),
    last_login_time: z.string().nullable(),
    last_heartbeat_time: z.string().nullable(),
    login_retry_count: z.number().int(),
    error_message: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Account');

const HistoryOut = z
  .object({
    id: z.number(),
    old_status: z.string().nullable(),
    new_status: z.string(),
    reason: z.string().nullable(),
    error_message: z.string().nullable(),
    extra_data: z.record(z.unknown()).nullable(),
    operator_id: z.string().nullable(),
    operator_type: z.enum(['user', 'system', 'auto']),
    created_at: z.string(),
  })
  .openapi('AccountStatusHistory');

const ConversationOut = z
  .object({
    id: z.string(),
    conversation_id: z.string(),
    conversation_name: z.string().nullable(),
    conversation_type: z.enum(['private', 'group']),
    avatar_url: z.string().nullable(),
    member_count: z.number().int().nullable(),
    last_msg_time: z.string().nullable(),
    is_active: z.boolean(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Conversation');

export function presentAccount(a: AccountRow, secret?: CredentialSummary) {
  return {
    id: a.id,
    account_name: a.account_name,
    phone: a.phone,
    email: a.email,
    user_id: a.user_id,
    guid: a.guid,
    channel: a.channel,
    credentials: secret ? { configured: true, hint: secret.hint, updated_at: secret.updated_at } : null,
    status: a.status,
    qr_code_url: a.qr_code_url,
    config: a.config,
    user_info: a.user_info,
    last_login_time: a.last_login_time,
    last_heartbeat_time: a.last_heartbeat_time,
    login_retry_count: a.login_retry_count,
    error_message: a.error_message,
    created_at: a.created_at,
    updated_at: a.updated_at,
  };
}

const isDuplicateKey = (err: unknown) => (err as { code?: string }).code === 'ER_DUP_ENTRY';
const credentialsInUse = (field: string) =>
  new ConflictError('another account already uses these provider credentials', 'credentials_in_use', { field });
const refuseCredentialsInUse = async (ctx: AppContext, channel: Channel, credentials: Record<string, unknown> | undefined, exceptAccountId?: string) => {
  if (!credentials) return;
  const used = await credentialInUse(ctx.db, ctx.config.channels.keyRing, channel, credentials, exceptAccountId);
  if (used) throw credentialsInUse(used.field);
};
const identityField = (channel: Channel, credentials: Record<string, unknown> | undefined) => credentialIdentity(channel, credentials)?.field ?? 'credentials';

const nameTaken = (name: string) => new ConflictError(`an account named "${name}" already exists`, 'account_name_taken', { field: 'account_name' });

const A = 'accounts';
const P = '/api/v1/accounts/{id}';
documentRoute({ method: 'post', path: '/api/v1/accounts', tag: A, summary: 'Create an account (and its gateway instance)', permission: 'accounts:write', body: accountBody, response: AccountOut, status: 201, errors: [400, 401, 403, 409, 502, 503] });
documentRoute({ method: 'get', path: '/api/v1/accounts', tag: A, summary: 'List accounts', permission: 'accounts:read', query: listQuery, response: pageResponse(AccountOut) });
documentRoute({ method: 'get', path: P, tag: A, summary: 'Get an account', permission: 'accounts:read', params: idParams, response: AccountOut });
documentRoute({ method: 'patch', path: P, tag: A, summary: 'Update an account', permission: 'accounts:write', params: idParams, body: accountPatch, response: AccountOut, errors: [400, 401, 403, 404, 409] });
documentRoute({ method: 'delete', path: P, tag: A, summary: 'Delete an account (logs it out first)', permission: 'accounts:write', params: idParams });
documentRoute({ method: 'put', path: `${P}/credentials`, tag: A, summary: 'Replace the channel credentials (account not online nor logging in)', permission: 'accounts:write', params: idParams, body: credentialsBody, response: AccountOut, errors: [400, 401, 403, 404, 409, 502, 503] });
documentRoute({ method: 'post', path: `${P}/login`, tag: A, summary: 'Start a QR login (runs in the login queue)', permission: 'accounts:login', params: idParams, response: AccountOut, status: 202, errors: [401, 403, 404, 409] });
documentRoute({ method: 'get', path: `${P}/qr`, tag: A, summary: 'Current login QR code (image/png)', permission: 'accounts:login', params: idParams, errors: [401, 403, 404] });
documentRoute({ method: 'post', path: `${P}/verify`, tag: A, summary: 'Submit the verification code', permission: 'accounts:login', params: idParams, body: verifyBody, response: AccountOut, errors: [400, 401, 403, 404, 409, 422, 502, 503] });
documentRoute({ method: 'post', path: `${P}/logout`, tag: A, summary: 'Log the account out', permission: 'accounts:login', params: idParams, response: AccountOut, errors: [401, 403, 404, 409, 503] });
documentRoute({ method: 'get', path: `${P}/history`, tag: A, summary: 'Status history', permission: 'accounts:read', params: idParams, query: pageQuery, response: pageResponse(HistoryOut) });
documentRoute({ method: 'get', path: `${P}/conversations`, tag: A, summary: 'Conversations of the account', permission: 'conversations:read', params: idParams, query: conversationsQuery, response: pageResponse(ConversationOut) });
documentRoute({ method: 'post', path: `${P}/conversations/sync`, tag: A, summary: 'Sync conversations from the gateway (queued)', permission: 'conversations:sync', params: idParams, status: 202, response: z.object({ queued: z.boolean() }), errors: [401, 403, 404, 409] });

/** Credentials change only while no session uses them. */
const CREDENTIALS_CHANGE_FROM: readonly string[] = ['created', 'offline', 'error'];

export function accountsRouter(ctx: AppContext): Router {
  const router = Router();
  const db = ctx.db;
  const presented = async (id: string, tenantId: string) => {
    const acct = await getAccount(db, tenantId, id);
    return presentAccount(acct, (await secretSummaries(db, [id])).get(id));
  };

  router.post('/accounts', requirePermission('accounts:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const b = body(req, accountBody);
    if (await accountNameTaken(db, tenantId, b.account_name)) throw nameTaken(b.account_name);
    // Cheap early check so a full tenant does not create gateway instances; the insert re-checks under lock.
    const tenant = await db('tenants').select('max_accounts').where({ id: tenantId }).first();
    const [{ n }] = await db('wework_accounts').where({ tenant_id: tenantId }).count({ n: '*' });
    if (Number(n) >= Number(tenant?.max_accounts ?? 0)) throw new QuotaExceededError('max_accounts', Number(tenant?.max_accounts ?? 0));
    const channel: Channel = b.channel ?? ctx.config.channels.defaultChannel;
    const credentials = parseCredentials(channel, b.credentials);
    // Before the gateway instance exists; the unique index re-checks at the insert.
    await refuseCredentialsInUse(ctx, channel, credentials);
    const gateway = ctx.gateway.for(channel);
    const { guid } = await viaGateway(() => gateway.createInstance({ label: b.account_name, channel, credentials }));
    let id: string = newId();
    try {
      id = await db.transaction(async (trx) => {
        if (credentials) {
          await saveSecret(trx, ctx.config.channels.keyRing, { tenantId, accountId: id, channel, secret: credentials, hint: credentialHint(channel, credentials) });
        }
        const r = await insertAccountWithinQuota(trx, {
          id,
          tenantId,
          accountName: b.account_name,
          guid,
          channel,
          userId: b.user_id,
          phone: b.phone,
          email: b.email,
          config: b.config,
          operatorId: operatorIdOf(req),
        });
        if ('quotaExceeded' in r) throw new QuotaExceededError('max_accounts', r.quotaExceeded);
        await auditRequest(trx, req, 'account.create', { type: 'account', id: r.id }, { account_name: b.account_name, guid, channel, credentials: credentials ? 'set' : 'none' });
        return r.id;
      });
    } catch (err) {
      // The account was not stored: do not leave its gateway instance behind.
      await gateway.deleteInstance(guid).catch(() => undefined);
      if (isCredentialLookupConflict(err)) throw credentialsInUse(identityField(channel, credentials));
      if (isDuplicateKey(err)) throw nameTaken(b.account_name);
      throw err;
    }
    res.status(201).json(await presented(id, tenantId));
  });

  router.get('/accounts', requirePermission('accounts:read'), async (req, res) => {
    const q = query(req, listQuery);
    // Lists read the replica (src/db/read-replica.ts); a GET of one account reads the primary.
    const reader = ctx.readDb();
    const page = await paginate<Record<string, unknown> & { created_at: Date; id: string }>(accountListQuery(reader, tenantIdOf(req), q), q);
    const secrets = await secretSummaries(reader, page.data.map((r) => r.id));
    res.json({ data: page.data.map((r) => presentAccount(decodeAccount(r), secrets.get(r.id))), next_cursor: page.next_cursor });
  });

  router.get('/accounts/:id', requirePermission('accounts:read'), async (req, res) => {
    const { id } = params(req, idParams);
    res.json(await presented(id, tenantIdOf(req)));
  });

  router.put('/accounts/:id/credentials', requirePermission('accounts:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, idParams);
    const raw = body(req, credentialsBody);
    const acct = await getAccount(db, tenantId, id);
    const channel = acct.channel as Channel;
    const credentials = parseCredentials(channel, raw.credentials)!;
    if (!CREDENTIALS_CHANGE_FROM.includes(acct.status)) {
      throw new ConflictError('log the account out before replacing its credentials', 'account_busy', { current_state: acct.status });
    }
    await refuseCredentialsInUse(ctx, channel, credentials, id);
    if (acct.guid) await viaGateway(() => ctx.gateway.for(channel).updateCredentials(acct.guid!, credentials));
    try {
      await db.transaction(async (trx) => {
        await saveSecret(trx, ctx.config.channels.keyRing, { tenantId, accountId: id, channel, secret: credentials, hint: credentialHint(channel, credentials), replace: true });
        await auditRequest(trx, req, 'account.credentials_update', { type: 'account', id }, { channel, fields: Object.keys(credentials) });
      });
    } catch (err) {
      if (isCredentialLookupConflict(err)) throw credentialsInUse(identityField(channel, credentials));
      throw err;
    }
    res.json(await presented(id, tenantId));
  });

  router.patch('/accounts/:id', requirePermission('accounts:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, idParams);
    const b = body(req, accountPatch);
    if (Object.keys(b).length === 0) throw new ValidationError([{ field: 'body', message: 'nothing to update' }]);
    await getAccount(db, tenantId, id);
    if (b.account_name && (await accountNameTaken(db, tenantId, b.account_name, id))) throw nameTaken(b.account_name);
    try {
      await db.transaction(async (trx) => {
        await updateAccountFields(trx, tenantId, id, b);
        await auditRequest(trx, req, 'account.update', { type: 'account', id }, { fields: Object.keys(b) });
      });
    } catch (err) {
      if (isDuplicateKey(err) && b.account_name) throw nameTaken(b.account_name);
      throw err;
    }
    res.json(await presented(id, tenantId));
  });

  router.delete('/accounts/:id', requirePermission('accounts:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, idParams);
    const acct = await getAccount(db, tenantId, id);
    // End any session on the gateway first; a gateway that no longer knows the instance is fine.
    const gateway = ctx.gateway.for(acct.channel);
    if (acct.guid && (acct.status === 'online' || acct.status === 'recovering' || LOGIN_IN_PROGRESS.includes(acct.status))) {
      await gateway.logout(acct.guid).catch((err: unknown) => {
        if (!isGatewayError(err) || err.kind !== 'permanent') throw gatewayToApiError(err);
      });
    }
    await db.transaction(async (trx) => {
      await deleteAccountRow(trx, tenantId, id);
      await deleteSecret(trx, id);
      await auditRequest(trx, req, 'account.delete', { type: 'account', id }, { account_name: acct.account_name, status: acct.status });
    });
    await clearLoginState(ctx, id);
    // The row is gone either way; an instance the gateway keeps is only a leak on its side, so log it.
    if (acct.guid) {
      await gateway.deleteInstance(acct.guid).catch((err: unknown) => ctx.logger.warn({ guid: acct.guid, err: (err as Error).message }, 'gateway instance not deleted'));
    }
    res.status(204).end();
  });

  router.post('/accounts/:id/login', requirePermission('accounts:login'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, idParams);
    const p = principalOf(req);
    const result = await transitionAccount(ctx, {
      accountId: id,
      tenantId,
      to: 'logging_in',
      reason: 'login_requested',
      operatorType: 'user',
      operatorId: operatorIdOf(req),
      extra: p.kind === 'user' ? undefined : { api_key_id: p.id },
      patch: { login_retry_count: 0, error_message: null, qr_code_url: null },
      inTransaction: (trx, from) => auditRequest(trx, req, 'account.login', { type: 'account', id }, { from }),
    });
    await beginLoginAttempt(ctx, id);
    res.status(202).json(await presented(id, tenantId));
  });

  router.get('/accounts/:id/qr', requirePermission('accounts:login'), async (req, res) => {
    const { id } = params(req, idParams);
    await getAccount(db, tenantIdOf(req), id);
    const qr = await loadQr(ctx, id);
    if (!qr) throw new NotFoundError('qr code', id);
    res.setHeader('Content-Type', 'image/png');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-QR-Expires-At', qr.expiresAt);
    res.end(qr.png);
  });

  router.post('/accounts/:id/verify', requirePermission('accounts:login'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, idParams);
    const { code } = body(req, verifyBody);
    const acct = await getAccount(db, tenantId, id);
    if (acct.status !== 'need_verify' || !acct.guid) throw new InvalidTransitionError('account', acct.status, 'online');
    const operatorId = operatorIdOf(req);
    const progress = await viaGateway(() => ctx.gateway.for(acct.channel).submitVerifyCode(acct.guid!, code));
    if (progress.state === 'online') {
      await completeLogin(ctx, id, progress.userInfo, 'user', 'verify_code_accepted', operatorId ?? undefined);
      await auditRequest(db, req, 'account.verify', { type: 'account', id }, { result: 'accepted' });
      res.json(await presented(id, tenantId));
      return;
    }
    if (progress.state === 'verify_failed' && progress.reason === 'wrong_code') {
      await transitionAccount(ctx, {
        accountId: id,
        tenantId,
        to: 'need_verify',
        reason: 'verify_failed',
        errorMessage: 'wrong_code',
        operatorType: 'user',
        operatorId,
        expectFrom: ['need_verify'],
        inTransaction: (trx) => auditRequest(trx, req, 'account.verify', { type: 'account', id }, { result: 'wrong_code' }),
      });
      throw new UnprocessableError('verify_code_wrong', 'the verification code is wrong; try again', { field: 'code' });
    }
    if (progress.state === 'verify_failed' && progress.reason === 'expired') {
      await failLoginAttempt(ctx, id, 'verify_code_expired', 'the verification step expired', false);
      await auditRequest(db, req, 'account.verify', { type: 'account', id }, { result: 'expired' });
      throw new UnprocessableError('verify_code_expired', 'the verification step expired; start the login again');
    }
    // The gateway says the login is somewhere else (e.g. cancelled): report the account as it is.
    await auditRequest(db, req, 'account.verify', { type: 'account', id }, { result: progress.state });
    throw new ConflictError(`the gateway reports the login as ${progress.state}`, 'login_not_verifiable', { current_state: acct.status, gateway_state: progress.state });
  });

  router.post('/accounts/:id/logout', requirePermission('accounts:login'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, idParams);
    const acct = await getAccount(db, tenantId, id);
    if (acct.status === 'offline' || acct.status === 'created') throw new InvalidTransitionError('account', acct.status, 'offline');
    if (acct.guid) {
      try {
        if (LOGIN_IN_PROGRESS.includes(acct.status)) await ctx.gateway.for(acct.channel).cancelLogin(acct.guid);
        else await ctx.gateway.for(acct.channel).logout(acct.guid);
      } catch (err) {
        // A gateway that refuses (instance unknown, not logged in) has no session to end; anything else is retried by the client.
        if (!isGatewayError(err) || err.kind !== 'permanent') throw gatewayToApiError(err);
      }
    }
    const result = await transitionAccount(ctx, {
      accountId: id,
      tenantId,
      to: 'offline',
      reason: 'user_logout',
      operatorType: 'user',
      operatorId: operatorIdOf(req),
      patch: { qr_code_url: null },
      inTransaction: (trx, from) => auditRequest(trx, req, 'account.logout', { type: 'account', id }, { from }),
    });
    await clearLoginState(ctx, id);
    res.json(await presented(id, tenantId));
  });

  router.get('/accounts/:id/history', requirePermission('accounts:read'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, idParams);
    const q = query(req, pageQuery);
    await getAccount(db, tenantId, id);
    // Ownership on the primary (a new account is found at once), the history itself on the replica.
    const page = await paginate<Record<string, unknown> & { created_at: Date; id: number }>(historyQuery(ctx.readDb(), tenantId, id), q);
    res.json({ data: page.data.map((r) => ({ ...r, id: Number(r.id), extra_data: parseJson(r.extra_data, null) })), next_cursor: page.next_cursor });
  });

  router.get('/accounts/:id/conversations', requirePermission('conversations:read'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, idParams);
    const q = query(req, conversationsQuery);
    await getAccount(db, tenantId, id);
    const page = await paginate<Record<string, unknown> & { created_at: Date; id: string }>(conversationListQuery(ctx.readDb(), tenantId, id, q), q);
    res.json({ data: page.data.map((r) => ({ ...r, is_active: Boolean(r.is_active), is_pinned: Boolean(r.is_pinned) })), next_cursor: page.next_cursor });
  });

  router.post('/accounts/:id/conversations/sync', requirePermission('conversations:sync'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, idParams);
    const acct = await getAccount(db, tenantId, id);
    if (acct.status !== 'online') throw new ConflictError('conversations can only be synced while the account is online', 'account_not_online', { current_state: acct.status });
    await enqueueAccountJob(ctx, 'sync', { accountId: id });
    await auditRequest(db, req, 'account.conversations_sync', { type: 'account', id });
    res.status(202).json({ queued: true });
  });

  return router;
}
