import type { Knex } from 'knex';
import type { KeyRing } from '../secrets/key-ring';
import { newId } from './ids';
import { parseJson, toJson } from './json';

/**
 * Tenant webhook endpoints. Signing secrets are sealed with the channel key ring, bound to their row;
 * plaintext exists only in memory between `endpointSecrets` and the signature it makes. Every query takes
 * the tenant, so another tenant's endpoint is simply not found.
 */
type Db = Knex | Knex.Transaction;
const aadFor = (endpointId: string) => `webhook_endpoints:${endpointId}`;

const PUBLIC_COLUMNS = ['id', 'name', 'url', 'event_types', 'active', 'batch_max', 'disabled_reason', 'disabled_at', 'previous_secret_expires_at', 'created_at', 'updated_at'];

export interface WebhookEndpoint {
  id: string;
  name: string;
  url: string;
  event_types: string[];
  active: boolean;
  batch_max: number;
  disabled_reason: string | null;
  disabled_at: Date | null;
  /** While set and in the future, the previous secret signs too (rotation overlap). */
  previous_secret_expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export function decodeEndpoint(r: Record<string, unknown>): WebhookEndpoint {
  return {
    id: r.id as string,
    name: r.name as string,
    url: r.url as string,
    event_types: parseJson<string[]>(r.event_types, []),
    active: Boolean(r.active),
    batch_max: Number(r.batch_max),
    disabled_reason: (r.disabled_reason as string | null) ?? null,
    disabled_at: (r.disabled_at as Date | null) ?? null,
    previous_secret_expires_at: (r.previous_secret_expires_at as Date | null) ?? null,
    created_at: r.created_at as Date,
    updated_at: r.updated_at as Date,
  };
}

export function endpointsQuery(db: Db, tenantId: string): Knex.QueryBuilder {
  return db('webhook_endpoints').select(PUBLIC_COLUMNS).where({ tenant_id: tenantId });
}

export async function getEndpoint(db: Db, tenantId: string, id: string, opts: { forUpdate?: boolean } = {}): Promise<WebhookEndpoint | undefined> {
  const q = db('webhook_endpoints').select(PUBLIC_COLUMNS).where({ tenant_id: tenantId, id });
  if (opts.forUpdate) q.forUpdate();
  const row = await q.first();
  return row ? decodeEndpoint(row) : undefined;
}

export async function insertEndpoint(
  db: Db,
  keyRing: KeyRing,
  e: { tenantId: string; name: string; url: string; eventTypes: string[]; active: boolean; batchMax: number; secret: string; createdBy: string | null },
): Promise<string> {
  const id = newId();
  await db('webhook_endpoints').insert({
    id,
    tenant_id: e.tenantId,
    name: e.name,
    url: e.url,
    event_types: toJson(e.eventTypes),
    active: e.active ? 1 : 0,
    batch_max: e.batchMax,
    secret_sealed: keyRing.seal(e.secret, aadFor(id)),
    key_id: keyRing.activeKeyId,
    created_by: e.createdBy,
  });
  return id;
}

export async function updateEndpoint(
  db: Db,
  tenantId: string,
  id: string,
  patch: { name?: string; url?: string; eventTypes?: string[]; active?: boolean; batchMax?: number },
): Promise<void> {
  const update: Record<string, unknown> = {};
  if (patch.name !== undefined) update.name = patch.name;
  if (patch.url !== undefined) update.url = patch.url;
  if (patch.eventTypes !== undefined) update.event_types = toJson(patch.eventTypes);
  if (patch.batchMax !== undefined) update.batch_max = patch.batchMax;
  if (patch.active !== undefined) {
    update.active = patch.active ? 1 : 0;
    // Re-enabling clears why it was disabled; disabling by hand records it.
    update.disabled_reason = patch.active ? null : 'disabled by an operator';
    update.disabled_at = patch.active ? null : new Date();
  }
  if (Object.keys(update).length) await db('webhook_endpoints').where({ tenant_id: tenantId, id }).update(update);
}

export async function deleteEndpoint(db: Db, tenantId: string, id: string): Promise<void> {
  await db('webhook_deliveries').where({ tenant_id: tenantId, endpoint_id: id }).delete();
  await db('webhook_endpoints').where({ tenant_id: tenantId, id }).delete();
}

/**
 * Rotation: the new secret becomes current, the current one becomes previous and keeps signing until
 * `overlapUntil` (both signatures go out meanwhile), so receivers can switch without losing a request.
 */
export async function rotateEndpointSecret(db: Db, keyRing: KeyRing, tenantId: string, id: string, secret: string, overlapUntil: Date | null): Promise<void> {
  const row = await db('webhook_endpoints').select('secret_sealed').where({ tenant_id: tenantId, id }).forUpdate().first();
  if (!row) return;
  const current = keyRing.open(row.secret_sealed, aadFor(id));
  await db('webhook_endpoints')
    .where({ tenant_id: tenantId, id })
    .update({
      secret_sealed: keyRing.seal(secret, aadFor(id)),
      previous_secret_sealed: overlapUntil ? keyRing.seal(current, aadFor(id)) : null,
      previous_secret_expires_at: overlapUntil,
      key_id: keyRing.activeKeyId,
    });
}

/** Everything a delivery needs: the URL, whether it is active, and the secrets that sign now (current first). */
export interface EndpointForDelivery {
  id: string;
  tenant_id: string;
  url: string;
  active: boolean;
  secrets: string[];
}

export async function endpointForDelivery(db: Db, keyRing: KeyRing, id: string, now = new Date()): Promise<EndpointForDelivery | undefined> {
  const r = await db('webhook_endpoints').select('id', 'tenant_id', 'url', 'active', 'secret_sealed', 'previous_secret_sealed', 'previous_secret_expires_at').where({ id }).first();
  if (!r) return undefined;
  const secrets = [keyRing.open(r.secret_sealed, aadFor(id))];
  if (r.previous_secret_sealed && r.previous_secret_expires_at && new Date(r.previous_secret_expires_at) > now) secrets.push(keyRing.open(r.previous_secret_sealed, aadFor(id)));
  return { id: r.id, tenant_id: r.tenant_id, url: r.url, active: Boolean(r.active), secrets };
}

/** Active endpoints of some tenants with what they subscribe (the dispatcher's fan-out). */
export async function activeEndpointsOf(db: Db, tenantIds: string[]): Promise<Array<{ id: string; tenant_id: string; event_types: string[]; batch_max: number }>> {
  if (tenantIds.length === 0) return [];
  const rows = await db('webhook_endpoints').select('id', 'tenant_id', 'event_types', 'batch_max').whereIn('tenant_id', tenantIds).andWhere({ active: 1 }).orderBy('id');
  return rows.map((r: Record<string, unknown>) => ({ id: r.id as string, tenant_id: r.tenant_id as string, event_types: parseJson<string[]>(r.event_types, []), batch_max: Number(r.batch_max) }));
}

/** Disables an endpoint (410 Gone, or failing for the whole retry window); false when it already was. */
export async function disableEndpoint(db: Db, id: string, reason: string): Promise<boolean> {
  const n = await db('webhook_endpoints').where({ id, active: 1 }).update({ active: 0, disabled_reason: reason.slice(0, 200), disabled_at: new Date() });
  return n > 0;
}

/** Re-seals secrets written under keys other than the active one (the secret-rekey job). */
export async function rekeyEndpointSecrets(db: Knex, keyRing: KeyRing): Promise<{ resealed: number; failed: number }> {
  let resealed = 0;
  let failed = 0;
  const rows: Array<{ id: string; secret_sealed: string; previous_secret_sealed: string | null }> = await db('webhook_endpoints')
    .select('id', 'secret_sealed', 'previous_secret_sealed')
    .whereNot('key_id', keyRing.activeKeyId);
  for (const r of rows) {
    try {
      const update = {
        secret_sealed: keyRing.reseal(r.secret_sealed, aadFor(r.id)),
        previous_secret_sealed: r.previous_secret_sealed ? keyRing.reseal(r.previous_secret_sealed, aadFor(r.id)) : null,
        key_id: keyRing.activeKeyId,
      };
      resealed += await db('webhook_endpoints').where({ id: r.id, secret_sealed: r.secret_sealed }).update(update);
    } catch {
      failed++;
    }
  }
  return { resealed, failed };
}

