import { createHmac, randomBytes } from 'node:crypto';

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): `webhook-signature` is
 * `v1,<base64 HMAC-SHA256 over "id.timestamp.body">` keyed with the base64 bytes after `whsec_`. Several
 * space-separated signatures are allowed: during a rotation overlap both the new and the old secret sign,
 * so receivers holding either verify. The `standardwebhooks` npm library verifies these (see the tests).
 */
export const SECRET_PREFIX = 'whsec_';

export function generateWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(24).toString('base64')}`;
}

export function signatureOf(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

export function webhookHeaders(secrets: readonly string[], id: string, at: Date, body: string): Record<string, string> {
  const timestamp = Math.floor(at.getTime() / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((s) => signatureOf(s, id, timestamp, body)).join(' '),
  };
}

/** `whsec_ab…xyz` for listings: enough to tell secrets apart, never enough to use one. */
export function secretHint(secret: string): string {
  return `${secret.slice(0, SECRET_PREFIX.length + 2)}…${secret.slice(-3)}`;
}
