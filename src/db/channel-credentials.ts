import type { Knex } from 'knex';
import type { Channel } from '../channels/channels';
import type { KeyRing } from '../secrets/key-ring';
import { parseJson, toJson } from './json';

/**
 * Sealed channel secrets, one row per account. Plaintext exists only in memory, between `loadSecret`
 * and the gateway call that needs it; rows carry their key id so rotation re-seals exactly the stale ones.
 */
const aadFor = (accountId: string) => `channel_credentials:${accountId}`;

export interface CredentialSummary {
  channel: string;
  hint: Record<string, unknown>;
  key_id: string;
  updated_at: Date;
}

export async function saveSecret(
  db: Knex | Knex.Transaction,
  keyRing: KeyRing,
  row: { tenantId: string; accountId: string; channel: Channel; secret: Record<string, unknown>; hint: Record<string, unknown> },
): Promise<void> {
  const sealed = keyRing.seal(JSON.stringify(row.secret), aadFor(row.accountId));
  await db('channel_credentials')
    .insert({ account_id: row.accountId, tenant_id: row.tenantId, channel: row.channel, key_id: keyRing.activeKeyId, sealed, hint: toJson(row.hint) })
    .onConflict('account_id')
    .merge(['channel', 'key_id', 'sealed', 'hint']);
}

/** The decrypted secret of an account, or undefined when it has none. */
export async function loadSecret<T = Record<string, unknown>>(db: Knex | Knex.Transaction, keyRing: KeyRing, accountId: string): Promise<T | undefined> {
  const row = await db('channel_credentials').select('sealed').where({ account_id: accountId }).first();
  if (!row) return undefined;
  return JSON.parse(keyRing.open(row.sealed, aadFor(accountId))) as T;
}

/** Hints (never secrets) of several accounts, for API listings. */
export async function secretSummaries(db: Knex | Knex.Transaction, accountIds: string[]): Promise<Map<string, CredentialSummary>> {
  if (accountIds.length === 0) return new Map();
  const rows = await db('channel_credentials').select('account_id', 'channel', 'hint', 'key_id', 'updated_at').whereIn('account_id', accountIds);
  return new Map(rows.map((r: Record<string, unknown>) => [r.account_id as string, { channel: r.channel as string, hint: parseJson(r.hint, {}), key_id: r.key_id as string, updated_at: r.updated_at as Date }]));
}

export async function deleteSecret(db: Knex | Knex.Transaction, accountId: string): Promise<void> {
  await db('channel_credentials').where({ account_id: accountId }).delete();
}

/**
 * Re-seals rows written under keys other than the active one, `batch` at a time, each row conditional
 * on its old ciphertext (a concurrent credential update wins). Returns how many rows were re-sealed.
 */
export async function rekeySecrets(db: Knex, keyRing: KeyRing, batch = 200): Promise<{ resealed: number; failed: number }> {
  let resealed = 0;
  let failed = 0;
  let after = '';
  for (;;) {
    const rows: Array<{ account_id: string; sealed: string }> = await db('channel_credentials')
      .select('account_id', 'sealed')
      .whereNot('key_id', keyRing.activeKeyId)
      .andWhere('account_id', '>', after)
      .orderBy('account_id')
      .limit(batch);
    if (rows.length === 0) break;
    for (const r of rows) {
      try {
        const next = keyRing.reseal(r.sealed, aadFor(r.account_id));
        resealed += await db('channel_credentials').where({ account_id: r.account_id, sealed: r.sealed }).update({ sealed: next, key_id: keyRing.activeKeyId });
      } catch {
        // Sealed with a key no longer in the ring: left for an operator (re-enter the credentials).
        failed++;
      }
    }
    after = rows[rows.length - 1].account_id;
  }
  return { resealed, failed };
}
