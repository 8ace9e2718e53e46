import { createHash } from 'node:crypto';
import { Router, type Request } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { CallbackIngestor, eventKey } from '../../callbacks/ingest';
import { OverloadedError } from '../../callbacks/group-commit';
import {
  decryptPostedXml,
  isValidEncodingAesKey,
  parseXml,
  verifyUrl,
  WXBIZ_ERRORS,
  WxBizMsgCryptError,
  type WxBizConfig,
} from '../../callbacks/wxbizmsgcrypt';
import { deleteWecomCallbackConfig, getWecomCallbackConfig, upsertWecomCallbackConfig, type WecomCallbackConfig } from '../../db/callbacks';
import { AppError, NotFoundError } from '../../errors';
import { NOTIFY } from '../../gateway/callback-protocol';
import { callbacksRejected } from '../../metrics/prometheus';
import { auditRequest } from '../audit';
import { requirePermission } from '../authenticate';
import { ErrorBody, registry } from '../openapi';
import { tenantIdOf } from '../principal';
import { body, parse } from '../validate';
import { CALLBACK_BODY_LIMIT, rawBody } from './callbacks';

/**
 * WeCom's official callback channel (for tenants that receive WeCom's own callbacks): URL verification
 * (GET with echostr) and encrypted XML events (POST), per WeCom's WXBizMsgCrypt protocol, with the
 * tenant's token / EncodingAESKey / corp id. Decrypted events are stored like gateway callbacks.
 */
const PathParams = z.object({ tenantId: z.string().min(1).max(36) });
const SignedQuery = z.object({
  msg_signature: z.string().min(1).max(100),
  timestamp: z.string().regex(/^\d{1,20}$/, 'digits only'),
  nonce: z.string().min(1).max(100),
});
const VerifyQuery = SignedQuery.extend({ echostr: z.string().min(1).max(4096) });

/** WeCom error code → HTTP answer. The WeCom code travels in details so it matches WeCom's docs. */
function httpErrorOf(err: WxBizMsgCryptError): AppError {
  const status =
    err.code === WXBIZ_ERRORS.ValidateSignatureError || err.code === WXBIZ_ERRORS.ValidateCorpidError
      ? 401
      : err.code === WXBIZ_ERRORS.IllegalAesKey || err.code === WXBIZ_ERRORS.ComputeSignatureError
        ? 500
        : 400;
  const code =
    {
      [-40001]: 'wecom_invalid_signature',
      [-40002]: 'wecom_invalid_xml',
      [-40005]: 'wecom_invalid_corp_id',
      [-40004]: 'wecom_illegal_aes_key',
    }[err.code as number] ?? 'wecom_invalid_message';
  return new AppError(status, code, err.message, { wecom_code: err.code });
}

function rejected(reason: string, err: AppError): AppError {
  callbacksRejected.inc({ reason });
  return err;
}

function cryptConfig(c: WecomCallbackConfig): WxBizConfig {
  return { token: c.token, encodingAesKey: c.encodingAesKey, receiveId: c.corpId };
}

/** event_type from WeCom's own kind: events by their Event name, messages by MsgType. */
export function wecomEventType(inner: Record<string, unknown>): string {
  const kind = typeof inner.Event === 'string' && inner.Event ? `event.${inner.Event}` : typeof inner.MsgType === 'string' ? inner.MsgType : 'unknown';
  return `wecom.${kind.toLowerCase()}`.slice(0, 50);
}

registry.registerPath({
  method: 'get',
  path: '/callbacks/wecom/{tenantId}',
  tags: ['callbacks'],
  summary: 'WeCom official callback URL verification: answers the decrypted echostr as plain text',
  security: [],
  request: { params: PathParams, query: VerifyQuery },
  responses: {
    200: { description: 'decrypted echostr', content: { 'text/plain': { schema: z.string() } } },
    401: { description: 'signature or corp id check failed (details.wecom_code), or timestamp outside CALLBACK_TOLERANCE_SECONDS', content: { 'application/json': { schema: ErrorBody } } },
    404: { description: 'no WeCom callback configuration for this tenant', content: { 'application/json': { schema: ErrorBody } } },
  },
});
registry.registerPath({
  method: 'post',
  path: '/callbacks/wecom/{tenantId}',
  tags: ['callbacks'],
  summary: 'WeCom official callback (encrypted XML); stores the decrypted event and answers "success"',
  security: [],
  request: { params: PathParams, query: SignedQuery, body: { content: { 'text/xml': { schema: z.string() } } } },
  responses: {
    200: { description: 'stored', content: { 'text/plain': { schema: z.string() } } },
    400: { description: 'bad XML, base64 or ciphertext (details.wecom_code)', content: { 'application/json': { schema: ErrorBody } } },
    401: { description: 'signature or corp id check failed (details.wecom_code), or timestamp outside CALLBACK_TOLERANCE_SECONDS', content: { 'application/json': { schema: ErrorBody } } },
    404: { description: 'no WeCom callback configuration for this tenant', content: { 'application/json': { schema: ErrorBody } } },
  },
});

/** Public: /callbacks/wecom/:tenantId (authenticated by msg_signature). */
export function wecomCallbackRouter(ctx: AppContext): Router {
  const router = Router();
  const ingestor = new CallbackIngestor(ctx, { maxInFlight: 2 });

  const tolerance = ctx.config.gateway.callbackToleranceSeconds;
  /** A signed request is only good near its own time: an old one (Tencent's published samples, a replay after the replay keys were purged) is refused. */
  function assertFresh(timestamp: string): void {
    if (Math.abs(Date.now() / 1000 - Number(timestamp)) <= tolerance) return;
    throw rejected(
      'wecom_stale',
      new AppError(401, 'wecom_stale_timestamp', `timestamp is more than ${tolerance} s away from now (CALLBACK_TOLERANCE_SECONDS)`, { field: 'query.timestamp' }),
    );
  }

  async function configFor(req: Request): Promise<WecomCallbackConfig> {
    const { tenantId } = parse(PathParams, req.params, 'params');
    const cfg = await getWecomCallbackConfig(ctx.db, tenantId, { activeOnly: true });
    if (!cfg) throw rejected('wecom_unknown_tenant', new NotFoundError('WeCom callback configuration', tenantId));
    return cfg;
  }

  router.get('/callbacks/wecom/:tenantId', async (req, res) => {
    const cfg = await configFor(req);
    const q = parse(VerifyQuery, req.query, 'query');
    assertFresh(q.timestamp);
    let echo: string;
    try {
      echo = verifyUrl(cryptConfig(cfg), q.msg_signature, q.timestamp, q.nonce, q.echostr);
    } catch (err) {
      if (err instanceof WxBizMsgCryptError) throw rejected(`wecom_${-err.code}`, httpErrorOf(err));
      throw err;
    }
    res.type('text/plain').send(echo);
  });

  router.post('/callbacks/wecom/:tenantId', rawBody(CALLBACK_BODY_LIMIT), async (req, res) => {
    const cfg = await configFor(req);
    const q = parse(SignedQuery, req.query, 'query');
    assertFresh(q.timestamp);
    const xml = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    let inner: string;
    let fields: Record<string, unknown>;
    try {
      inner = decryptPostedXml(cryptConfig(cfg), q.msg_signature, q.timestamp, q.nonce, xml);
      fields = parseXml(inner);
    } catch (err) {
      if (err instanceof WxBizMsgCryptError) throw rejected(`wecom_${-err.code}`, httpErrorOf(err));
      throw err;
    }
    // WeCom re-posts an unanswered event; its MsgId (messages) or the event text itself identifies it.
    const identity = typeof fields.MsgId === 'string' && fields.MsgId ? `msg:${fields.MsgId}` : createHash('sha256').update(inner).digest('hex');
    try {
      await ingestor.store({
        eventKey: eventKey('wecom', cfg.tenantId, identity),
        guid: cfg.corpId,
        notifyType: NOTIFY.wecomOfficial,
        eventType: wecomEventType(fields),
        rawData: inner,
        sourceIp: req.ip,
        userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : undefined,
        tenantId: cfg.tenantId,
      });
    } catch (err) {
      if (err instanceof OverloadedError) throw new AppError(503, 'overloaded', 'callback intake is saturated; retry shortly');
      throw err;
    }
    // WeCom treats "success" (or an empty body) as acknowledged, without a passive reply.
    res.type('text/plain').send('success');
  });
  return router;
}

// --- Configuration API -----------------------------------------------------------------------------

const ConfigBody = z
  .object({
    corp_id: z.string().min(1).max(64),
    token: z.string().regex(/^[A-Za-z0-9]{1,64}$/, 'letters and digits, at most 64'),
    encoding_aes_key: z.string().refine(isValidEncodingAesKey, 'must be the 43-character EncodingAESKey'),
  })
  .strict();

const ConfigView = registry.register(
  'WecomCallbackConfig',
  z.object({
    corp_id: z.string(),
    token_set: z.boolean(),
    encoding_aes_key_set: z.boolean(),
    callback_url: z.string(),
    updated_at: z.string(),
  }),
);

const secured = { security: [{ bearer: [] }] };
registry.registerPath({
  method: 'get',
  path: '/api/v1/callbacks/wecom/config',
  tags: ['callbacks'],
  summary: "The tenant's WeCom callback settings; secrets are never returned (needs tenant:read)",
  ...secured,
  responses: {
    200: { description: 'settings', content: { 'application/json': { schema: ConfigView } } },
    404: { description: 'not configured', content: { 'application/json': { schema: ErrorBody } } },
  },
});
registry.registerPath({
  method: 'put',
  path: '/api/v1/callbacks/wecom/config',
  tags: ['callbacks'],
  summary: 'Set the tenant\'s WeCom callback token, EncodingAESKey and corp id (needs tenant:write)',
  ...secured,
  request: { body: { content: { 'application/json': { schema: ConfigBody } } } },
  responses: {
    200: { description: 'saved', content: { 'application/json': { schema: ConfigView } } },
    400: { description: 'bad values', content: { 'application/json': { schema: ErrorBody } } },
  },
});
registry.registerPath({
  method: 'delete',
  path: '/api/v1/callbacks/wecom/config',
  tags: ['callbacks'],
  summary: 'Remove the tenant\'s WeCom callback settings (needs tenant:write)',
  ...secured,
  responses: {
    204: { description: 'removed' },
    404: { description: 'not configured', content: { 'application/json': { schema: ErrorBody } } },
  },
});

/** /api/v1/callbacks/wecom/config — per-tenant WXBizMsgCrypt settings. */
export function wecomConfigRouter(ctx: AppContext): Router {
  const router = Router();
  const view = (c: WecomCallbackConfig) => ({
    corp_id: c.corpId,
    token_set: c.token.length > 0,
    encoding_aes_key_set: c.encodingAesKey.length > 0,
    callback_url: `${ctx.config.http.publicUrl}/callbacks/wecom/${c.tenantId}`,
    updated_at: new Date(c.updatedAt).toISOString(),
  });

  router.get('/callbacks/wecom/config', requirePermission('tenant:read'), async (req, res) => {
    const cfg = await getWecomCallbackConfig(ctx.db, tenantIdOf(req));
    if (!cfg) throw new NotFoundError('WeCom callback configuration');
    res.json(view(cfg));
  });

  router.put('/callbacks/wecom/config', requirePermission('tenant:write'), async (req, res) => {
    const b = body(req, ConfigBody);
    const tenantId = tenantIdOf(req);
    await ctx.db.transaction(async (trx) => {
      await upsertWecomCallbackConfig(trx, { tenantId, corpId: b.corp_id, token: b.token, encodingAesKey: b.encoding_aes_key });
      await auditRequest(trx, req, 'wecom_callback_config.update', { type: 'tenant', id: tenantId }, { corp_id: b.corp_id });
    });
    res.json(view((await getWecomCallbackConfig(ctx.db, tenantId))!));
  });

  router.delete('/callbacks/wecom/config', requirePermission('tenant:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const removed = await ctx.db.transaction(async (trx) => {
      const gone = await deleteWecomCallbackConfig(trx, tenantId);
      if (gone) await auditRequest(trx, req, 'wecom_callback_config.delete', { type: 'tenant', id: tenantId });
      return gone;
    });
    if (!removed) throw new NotFoundError('WeCom callback configuration');
    res.status(204).end();
  });
  return router;
}
