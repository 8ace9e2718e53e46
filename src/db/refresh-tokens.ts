import type { Knex } from 'knex';
import { randomSecret, sha256Hex } from '../auth/secrets';
import { newId } from './ids';

type Db = Knex | Knex.Transaction;

/**
 * Refresh tokens are opaque random secrets stored as SHA-256. Every login starts a family; each refresh
 * revokes the presented token (recording `replaced_by`) and issues the next one in the same family.
 */
export interface RefreshTokenRow {
  id: string;
  tenant_id: string;
  user_id: string;
  family_id: string;
  token_hash: string;
  expires_at: Date;
  revoked_at: Date | null;
  replaced_by: string | null;
}

export async function issueRefreshToken(
  db: Db,
  t: { tenantId: string; userId: string; familyId?: string; ttlSeconds: number; ip?: string | null },
): Promise<{ id: string; token: string; familyId: string; expiresAt: Date }> {
  const id = newId();
  const token = randomSecret(32);
  const familyId = t.familyId ?? newId();
  const expiresAt = new Date(Date.now() + t.ttlSeconds * 1000);
  await db('refresh_tokens').insert({
    id,
    tenant_id: t.tenantId,
    user_id: t.userId,
    family_id: familyId,
    token_hash: sha256Hex(token),
    expires_at: expiresAt,
    created_ip: t.ip ?? null,
  });
  return { id, token, familyId, expiresAt };
}

export async function findRefreshToken(db: Db, token: string, opts: { forUpdate?: boolean } = {}): Promise<RefreshTokenRow | undefined> {
  const q = db('refresh_tokens').where({ token_hash: sha256Hex(token) });
  if (opts.forUpdate) q.forUpdate();
  return q.first();
}

export async function markRotated(db: Db, id: string, replacedBy: string): Promise<void> {
  await db('refresh_tokens').where({ id }).update({ revoked_at: db.fn.now(3), replaced_by: replacedBy });
}

export async function revokeFamily(db: Db, familyId: string): Promise<number> {
  return db('refresh_tokens').where({ family_id: familyId }).whereNull('revoked_at').update({ revoked_at: db.fn.now(3) });
}

export async function revokeUserRefreshTokens(db: Db, userId: string): Promise<number> {
  return db('refresh_tokens').where({ user_id: userId }).whereNull('revoked_at').update({ revoked_at: db.fn.now(3) });
}

export async function revokeTenantRefreshTokens(db: Db, tenantId: string): Promise<number> {
  return db('refresh_tokens').where({ tenant_id: tenantId }).whereNull('revoked_at').update({ revoked_at: db.fn.now(3) });
}
