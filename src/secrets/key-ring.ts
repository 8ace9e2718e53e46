import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Envelope for secrets at rest (channel credentials: provider tokens and endpoints, official app
 * secrets): AES-256-GCM under a key ring. The first key encrypts; every key decrypts, so keys rotate by
 * putting a new one first, re-sealing stored rows (`rekey`), then dropping the old one.
 *
 * Sealed form: `v1.<keyId>.<iv>.<tag>.<ciphertext>` (base64url parts). The associated data binds a
 * ciphertext to its row (e.g. `channel_credentials:<accountId>`), so a value copied onto another row
 * does not open.
 */
export interface KeyRingKey {
  id: string;
  key: Buffer;
}

export class SecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretError';
  }
}

const VERSION = 'v1';
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

export class KeyRing {
  private readonly byId: Map<string, Buffer>;

  constructor(readonly keys: readonly KeyRingKey[]) {
    if (keys.length === 0) throw new SecretError('the key ring needs at least one key');
    this.byId = new Map();
    for (const k of keys) {
      if (!KEY_ID.test(k.id)) throw new SecretError(`key id "${k.id}" must be 1-32 letters, digits, _ or -`);
      if (k.key.length !== 32) throw new SecretError(`key "${k.id}" must be 32 bytes (AES-256)`);
      if (this.byId.has(k.id)) throw new SecretError(`key id "${k.id}" appears twice`);
      this.byId.set(k.id, k.key);
    }
  }

  /** The key new secrets are sealed with. */
  get activeKeyId(): string {
    return this.keys[0].id;
  }

  seal(plaintext: string, aad: string): string {
    const { id, key } = this.keys[0];
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, id, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ct.toString('base64url')].join('.');
  }

  open(sealed: string, aad: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) throw new SecretError('not a sealed secret');
    const key = this.byId.get(parts[1]);
    if (!key) throw new SecretError(`sealed with key "${parts[1]}", which is not in the key ring`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(parts[2], 'base64url'));
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(Buffer.from(parts[3], 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(parts[4], 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretError('the sealed secret does not open (tampered, or bound to another row)');
    }
  }

  /** The key id a sealed value was written with. */
  static keyIdOf(sealed: string): string | undefined {
    const parts = sealed.split('.');
    return parts.length === 5 && parts[0] === VERSION ? parts[1] : undefined;
  }

  /** Whether the value should be re-sealed under the active key. */
  isStale(sealed: string): boolean {
    return KeyRing.keyIdOf(sealed) !== this.activeKeyId;
  }

  /**
   * A keyed hash (HMAC-SHA256) of a secret, for finding equal secrets without opening every row. The
   * HMAC key is derived (HKDF) from a ring key, never the sealing key itself; `keyId` defaults to the
   * active one.
   */
  lookupHash(value: string, keyId = this.activeKeyId): string {
    const key = this.byId.get(keyId);
    if (!key) throw new SecretError(`key "${keyId}" is not in the key ring`);
    const hmacKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'wework-platform secret lookup v1', 32));
    return createHmac('sha256', hmacKey).update(value, 'utf8').digest('hex');
  }

  /** The lookup hash under every key of the ring: rows not yet re-sealed carry an older key's. */
  lookupHashes(value: string): string[] {
    return this.keys.map((k) => this.lookupHash(value, k.id));
  }

  /** Opens and seals again under the active key (rotation). */
  reseal(sealed: string, aad: string): string {
    return this.seal(this.open(sealed, aad), aad);
  }
}

/**
 * Parses `CHANNEL_SECRET_KEYS`: comma-separated `id:base64key` (32 bytes each), the active key first.
 * Throws SecretError naming what is wrong.
 */
export function parseKeyRing(spec: string): KeyRing {
  const keys = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const i = entry.indexOf(':');
      if (i <= 0) throw new SecretError('each key is id:base64 (32 bytes)');
      const key = Buffer.from(entry.slice(i + 1), 'base64');
      return { id: entry.slice(0, i), key };
    });
  return new KeyRing(keys);
}

/** A key ring for development and tests only: derived from a fixed label, never secret. */
export function developmentKeyRing(label = 'wework-platform-dev'): KeyRing {
  return new KeyRing([{ id: 'dev', key: createHash('sha256').update(label).digest() }]);
}
