import type { Knex } from 'knex';
import type { OfficialCredentials } from '../../channels/channels';
import { loadSecret } from '../../db/channel-credentials';
import type { KeyRing } from '../../secrets/key-ring';
import { GatewayError } from '../errors';

/** An official account as the client needs it: its tenant and its app's credentials (plaintext, in memory only). */
export interface OfficialAccount {
  accountId: string;
  tenantId: string;
  creds: OfficialCredentials;
}

/**
 * The credentials behind a guid, read from the sealed row of its account and kept in memory a short
 * while (bounded), so a send does not open the secret every time. Replaced credentials are dropped here
 * at once in this process and within `ttlMs` in the others (credentials only change while the account
 * is not in a session).
 */
export class OfficialCredentialStore {
  private readonly cache = new Map<string, { at: number; account: OfficialAccount }>();

  constructor(
    private readonly db: Knex,
    private readonly keyRing: KeyRing,
    private readonly ttlMs = 30_000,
    private readonly max = 10_000,
  ) {}

  async of(guid: string): Promise<OfficialAccount> {
    const hit = this.cache.get(guid);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.account;
    const row: { id: string; tenant_id: string } | undefined = await this.db('wework_accounts').select('id', 'tenant_id').where({ guid, channel: 'official' }).first();
    if (!row) throw new GatewayError('account_offline', 'instance_not_found', `no official account has guid ${guid}`);
    const creds = await loadSecret<OfficialCredentials>(this.db, this.keyRing, row.id);
    if (!creds) throw new GatewayError('permanent', 'credentials_missing', 'the account has no official API credentials');
    const account = { accountId: row.id, tenantId: row.tenant_id, creds };
    if (this.cache.size >= this.max) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(guid, { at: Date.now(), account });
    return account;
  }

  forget(guid: string): void {
    this.cache.delete(guid);
  }
}
