import { Router } from 'express';
import { z } from 'zod';
import { randomSecret } from '../../auth/secrets';
import type { AppContext } from '../../context';
import { apiKeysQuery, decodeApiKey, getApiKey, insertApiKey, revokeApiKey, revokeKeysCreatedBy } from '../../db/api-keys';
import { NotFoundError } from '../../errors';
import { auditRequest } from '../audit';
import { API_KEY_PREFIX, requirePermission } from '../authenticate';
import { paginate, pageQuery, pageResponse } from '../pagination';
import { principalOf, tenantIdOf } from '../principal';
import { body, params, query } from '../validate';
import { ApiKeyOut, IdParams } from './access-schemas';
import { assertNotOutranked, checkGrantablePermissions } from './grants';
import { documentRoute } from './route-docs';
import { isoDateOrDateTimeAsDate } from '../fields';

/** `wwp_` plus 8 secret characters identify a key in listings without revealing it. */
const DISPLAY_PREFIX_LENGTH = API_KEY_PREFIX.length + 8;

const CreateApiKeyBody = z.object({
  name: z.string().trim().min(1).max(100),
  permissions: z.array(z.string().min(1).max(64)).min(1).max(100),
  expires_at: isoDateOrDateTimeAsDate
    .refine((d) => !(d instanceof Date) || d.getTime() > Date.now(), 'must be in the future')
    .optional(),
});
const ListApiKeysQuery = pageQuery.extend({ status: z.enum(['active', 'revoked']).optional() });
const CreatedApiKey = ApiKeyOut.extend({ key: z.string().describe('the secret; shown only in this response') });

const tag = 'API keys';
documentRoute({ method: 'post', path: '/api/v1/api-keys', tag, permission: 'api_keys:write', summary: 'Create an API key; the secret is returned once (send it as `X-Api-Key` or `Authorization: Bearer`)', body: CreateApiKeyBody, response: CreatedApiKey, status: 201 });
documentRoute({ method: 'get', path: '/api/v1/api-keys', tag, permission: 'api_keys:read', summary: 'List API keys (never the secret)', query: ListApiKeysQuery, response: pageResponse(ApiKeyOut) });
documentRoute({ method: 'get', path: '/api/v1/api-keys/{id}', tag, permission: 'api_keys:read', summary: 'Get an API key (never the secret)', params: IdParams, response: ApiKeyOut });
documentRoute({ method: 'delete', path: '/api/v1/api-keys/{id}', tag, permission: 'api_keys:write', summary: 'Revoke an API key and the keys it created (they stop working at once; rows are kept)', params: IdParams, response: ApiKeyOut, errors: [401, 403, 404] });

export function apiKeysRouter(ctx: AppContext): Router {
  const router = Router();

  router.post('/api-keys', requirePermission('api_keys:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const input = body(req, CreateApiKeyBody);
    const permissions = checkGrantablePermissions(req, input.permissions);
    const secret = `${API_KEY_PREFIX}${randomSecret(32)}`;
    const id = await ctx.db.transaction(async (trx) => {
      const keyId = await insertApiKey(trx, {
        tenantId,
        name: input.name,
        secret,
        prefixLength: DISPLAY_PREFIX_LENGTH,
        permissions,
        createdBy: principalOf(req).id,
        expiresAt: input.expires_at,
      });
      await auditRequest(trx, req, 'api_key.create', { type: 'api_key', id: keyId }, { name: input.name, permissions, expires_at: input.expires_at });
      return keyId;
    });
    res.status(201).json({ ...(await getApiKey(ctx.db, tenantId, id)), key: secret });
  });

  router.get('/api-keys', requirePermission('api_keys:read'), async (req, res) => {
    const q = query(req, ListApiKeysQuery);
    const page = await paginate<Record<string, unknown> & { id: string; created_at: Date }>(apiKeysQuery(ctx.db, tenantIdOf(req), { status: q.status }), q);
    res.json({ data: page.data.map(decodeApiKey), next_cursor: page.next_cursor });
  });

  router.get('/api-keys/:id', requirePermission('api_keys:read'), async (req, res) => {
    const { id } = params(req, IdParams);
    const key = await getApiKey(ctx.db, tenantIdOf(req), id);
    if (!key) throw new NotFoundError('api_key', id);
    res.json(key);
  });

  router.delete('/api-keys/:id', requirePermission('api_keys:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, IdParams);
    const revoked = await ctx.db.transaction(async (trx) => {
      const key = await getApiKey(trx, tenantId, id);
      if (!key) throw new NotFoundError('api_key', id);
      assertNotOutranked(req, { type: 'api_key', id, permissions: key.permissions });
      if (key.revoked_at) return []; // revoking twice is a no-op, and not a new audited action
      await revokeApiKey(trx, tenantId, id);
      // Keys this key created go with it: a leaked key cannot leave a successor behind.
      const descendants = await revokeKeysCreatedBy(trx, tenantId, [id]);
      await auditRequest(trx, req, 'api_key.revoke', { type: 'api_key', id }, { name: key.name, api_keys_revoked: descendants });
      return [id, ...descendants];
    });
    ctx.realtime.endSessions({ apiKeyIds: revoked });
    res.json(await getApiKey(ctx.db, tenantId, id));
  });
  return router;
}
