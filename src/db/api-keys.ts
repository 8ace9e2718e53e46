import type { Knex } from 'knex';
import { sha256Hex } from '../auth/secrets';
import { newId } from './ids';
import { parseJson, toJson } from './json';

type Db = Knex | Knex.Transaction;

/** API keys are stored as SHA-256 of the secret; `key_prefix` (its first characters) identifies it in listings. */
export interface ApiKeyRow {
  id: string;
  tenant_id: string;
  name: string;
  key_prefix: string;
  permissions: string[];
  created_by: string | null;
  last_used_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
}

const COLUMNS = ['id', 'tenant_id', 'name', 'key_prefix', 'permissions', 'created_by', 'last_used_at', 'expires_at', 'revoked_at', 'created_at'];

export function decodeApiKey(row: Record<string, unknown>): ApiKeyRow {
  return { ...(row as unknown as ApiKeyRow), permissions: parseJson<string[]>(row.permissions, []) };
}

export async function insertApiKey(
  db: Db,
  k: { tenantId: string; name: string; secret: string; prefixLength: number; permissions: string[]; createdBy: string; expiresAt?: Date | null },
): Promise<string> {
  const id = newId();
  await db('api_keys').insert({
    id,
    tenant_id: k.tenantId,
    name: k.name,
    key_prefix: k.secret.slice(0, k.prefixLength),
    key_hash: sha256Hex(k.secret),
    permissions: toJson(k.permissions),
    created_by: k.createdBy,
    expires_at: k.expiresAt ?? null,
  });
  return id;
}

export async function getApiKey(db: Db, tenantId: string, id: string): Promise<ApiKeyRow | undefined> {
  const row = await db('api_keys').select(COLUMNS).where({ tenant_id: tenantId, id }).first();
  return row ? decodeApiKey(row) : undefined;
}

export function apiKeysQuery(db: Db, tenantId: string, filters: { status?: 'active' | 'revoked' }): Knex.QueryBuilder {
  const q = db('api_keys').select(COLUMNS).where({ tenant_id: tenantId });
  if (filters.status === 'active') q.whereNull('revoked_at');
  if (filters.status === 'revoked') q.whereNotNull('revoked_at');
  return q;
}

export async function revokeApiKey(db: Db, tenantId: string, id: string): Promise<void> {
  await db('api_keys').where({ tenant_id: tenantId, id }).whereNull('revoked_at').update({ revoked_at: db.fn.now(3) });
}

export async function revokeTenantApiKeys(db: Db, tenantId: string): Promise<number> {
  return db('api_keys').where({ tenant_id: tenantId }).whereNull('revoked_at').update({ revoked_at: db.fn.now(3) });
}

/**
 * Revokes every live key the given creators (operators or keys) made, and the keys those keys made, and
 * so on: a key never outlives whoever created it, so a deleted operator's key cannot mint a successor.
 * Returns the ids revoked now.
 */
export async function revokeKeysCreatedBy(db: Db, tenantId: string, creatorIds: string[]): Promise<string[]> {
  const revoked: string[] = [];
  const seen = new Set(creatorIds);
  let frontier = [...seen];
  while (frontier.length > 0) {
    const children = await db('api_keys').where({ tenant_id: tenantId }).whereIn('created_by', frontier).select('id', 'revoked_at');
    const live = children.filter((k) => k.revoked_at === null).map((k) => k.id as string);
    if (live.length > 0) {
      await db('api_keys').whereIn('id', live).whereNull('revoked_at').update({ revoked_at: db.fn.now(3) });
      revoked.push(...live);
    }
    frontier = children.map((k) => k.id as string).filter((id) => !seen.has(id));
    for (const id of frontier) seen.add(id);
  }
  return revoked;
}
