import type { Knex } from 'knex';
import { credentialIdentity, type Channel } from '../channels/channels';
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
  row: { tenantId: string; accountId: string; channel: Channel; secret: Record<string, unknown>; hint: Record<string, unknown>; replace?: boolean },
): Promise<void> {
  const sealed = keyRing.seal(JSON.stringify(row.secret), aadFor(row.accountId));
  const lookup = lookupOf(keyRing, row.channel, row.secret);
  // Not an upsert: ON DUPLICATE KEY UPDATE would also fire on the lookup index and overwrite another
  // account's row. A new account inserts (no probing update: its gap lock deadlocks concurrent creates);
  // a replacement updates its row. A taken lookup fails either way (ER_DUP_ENTRY on uk_channel_lookup).
  const fields = { channel: row.channel, key_id: keyRing.activeKeyId, sealed, lookup, hint: toJson(row.hint) };
  const updated = row.replace ? await db('channel_credentials').where({ account_id: row.accountId }).update(fields) : 0;
  if (updated === 0) await db('channel_credentials').insert({ account_id: row.accountId, tenant_id: row.tenantId, ...fields });
}

function lookupOf(keyRing: KeyRing, channel: Channel, secret: Record<string, unknown>, keyId?: string): string | null {
  const identity = credentialIdentity(channel, secret);
  return identity ? keyRing.lookupHash(identity.value, keyId) : null;
}

/**
 * Whether another account (of any tenant: a provider account can only be driven by one client) already
 * uses the identifying credential of `secret`. Compares keyed hashes under every key of the ring, so
 * rows not yet re-sealed after a rotation count too. Answers the field to name in the error.
 */
export async function credentialInUse(
  db: Knex | Knex.Transaction,
  keyRing: KeyRing,
  channel: Channel,
  secret: Record<string, unknown>,
  exceptAccountId?: string,
): Promise<{ field: string } | undefined> {
  const identity = credentialIdentity(channel, secret);
  if (!identity) return undefined;
  const q = db('channel_credentials').select('account_id').where({ channel }).whereIn('lookup', keyRing.lookupHashes(identity.value)).first();
  if (exceptAccountId) q.whereNot('account_id', exceptAccountId);
  return (await q) ? { field: identity.field } : undefined;
}

/** A duplicate-key error from the (channel, lookup) unique index: two writers raced with one token. */
export const isCredentialLookupConflict = (err: unknown): boolean =>
  (err as { code?: string }).code === 'ER_DUP_ENTRY' && /uk_channel_lookup/.test(String((err as Error).message));

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
 * on its old ciphertext (a concurrent credential update wins), and recomputes their lookup hash under
 * the active key. Rows from before the lookup column get theirs too. Returns how many rows were re-sealed.
 */
export async function rekeySecrets(db: Knex, keyRing: KeyRing, batch = 200): Promise<{ resealed: number; failed: number }> {
  let resealed = 0;
  let failed = 0;
  let after = '';
  for (;;) {
    const rows: Array<{ account_id: string; channel: Channel; sealed: string; lookup: string | null }> = await db('channel_credentials')
      .select('account_id', 'channel', 'sealed', 'lookup')
      .where((w) => w.whereNot('key_id', keyRing.activeKeyId).orWhereNull('lookup'))
      .andWhere('account_id', '>', after)
      .orderBy('account_id')
      .limit(batch);
    if (rows.length === 0) break;
    for (const r of rows) {
      try {
        const plain = keyRing.open(r.sealed, aadFor(r.account_id));
        const lookup = lookupOf(keyRing, r.channel, JSON.parse(plain) as Record<string, unknown>);
        // Nothing to do: a row under the active key whose channel has no identifying credential.
        if (!keyRing.isStale(r.sealed) && lookup === r.lookup) continue;
        const next = keyRing.seal(plain, aadFor(r.account_id));
        resealed += await db('channel_credentials').where({ account_id: r.account_id, sealed: r.sealed }).update({ sealed: next, key_id: keyRing.activeKeyId, lookup });
      } catch {
        // Sealed with a key no longer in the ring, or a token another row already holds (rows from
        // before the lookup column): left for an operator (re-enter the credentials).
        failed++;
      }
    }
    after = rows[rows.length - 1].account_id;
  }
  return { resealed, failed };
}
