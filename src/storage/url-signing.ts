import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed download tokens for the local driver (MinIO signs its own URLs): the payload names the object,
 * its expiry and how to serve it; an HMAC-SHA256 under a key derived from the platform secret makes it
 * unforgeable. Verified in constant time.
 */
export interface DownloadGrant {
  /** object key */
  k: string;
  /** expiry, epoch seconds */
  e: number;
  /** content type to serve */
  ct?: string;
  /** file name for Content-Disposition */
  fn?: string;
}

function signingKey(secret: string): Buffer {
  return createHmac('sha256', secret).update('wwp-local-file-download-v1').digest();
}

function mac(secret: string, payload: string): string {
  return createHmac('sha256', signingKey(secret)).update(payload).digest('base64url');
}

export function signDownloadToken(secret: string, grant: DownloadGrant): string {
  const payload = Buffer.from(JSON.stringify(grant)).toString('base64url');
  return `${payload}.${mac(secret, payload)}`;
}

export type TokenCheck = { ok: true; grant: DownloadGrant } | { ok: false; reason: 'malformed' | 'bad_signature' | 'expired' };

export function verifyDownloadToken(secret: string, token: string, nowSeconds = Math.floor(Date.now() / 1000)): TokenCheck {
  const [payload, signature, extra] = token.split('.');
  if (!payload || !signature || extra !== undefined) return { ok: false, reason: 'malformed' };
  const expected = Buffer.from(mac(secret, payload));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'bad_signature' };
  let grant: DownloadGrant;
  try {
    grant = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as DownloadGrant;
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (typeof grant.k !== 'string' || typeof grant.e !== 'number') return { ok: false, reason: 'malformed' };
  if (grant.e < nowSeconds) return { ok: false, reason: 'expired' };
  return { ok: true, grant };
}
