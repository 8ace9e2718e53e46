import { z } from 'zod';
import '../api/openapi';
import { maskEndpoint, maskSecret } from '../secrets/masking';

/**
 * The channels an account can be served by. `simulator` is the built-in gateway simulator (no
 * credentials); `wechaty` is a WeCom provider speaking Wechaty Puppet Service, reached through the
 * gateway-wechaty role with the account's provider token. A channel is fixed when the account is created.
 */
export const CHANNELS = ['simulator', 'wechaty'] as const;
export type Channel = (typeof CHANNELS)[number];

export const isChannel = (v: unknown): v is Channel => (CHANNELS as readonly unknown[]).includes(v);

/** Provider credentials of a `wechaty` account (what the operator pastes from the provider's console). */
export const wechatyCredentialsSchema = z
  .object({
    token: z.string().trim().min(8).max(500).openapi({ description: 'provider token (e.g. puppet_workpro_…)' }),
    endpoint: z
      .string()
      .trim()
      .max(300)
      .regex(/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/, 'host:port')
      .optional()
      .openapi({ description: 'gRPC endpoint host:port; omitted = discovered from the token' }),
    tls: z
      .object({
        insecure: z.boolean().optional().openapi({ description: 'no TLS (local or private networks only)' }),
        server_name: z.string().trim().max(253).optional(),
        ca_cert: z.string().max(20_000).optional().openapi({ description: 'PEM of the CA that signed the provider certificate' }),
      })
      .strict()
      .optional(),
  })
  .strict()
  .openapi('WechatyCredentials');

export type WechatyCredentials = z.infer<typeof wechatyCredentialsSchema>;

/** Credentials by channel; a channel without credentials has none here. */
export const CREDENTIAL_SCHEMAS: Partial<Record<Channel, z.ZodTypeAny>> = {
  wechaty: wechatyCredentialsSchema,
};

export const channelNeedsCredentials = (channel: Channel): boolean => CREDENTIAL_SCHEMAS[channel] !== undefined;

/**
 * The part of a channel's credentials that names one hosted account at the provider, so no two accounts
 * may share it (two clients on one provider token cut each other's event streams). None: no uniqueness.
 */
export function credentialIdentity(channel: Channel, creds: Record<string, unknown> | undefined): { field: string; value: string } | undefined {
  if (channel === 'wechaty' && creds && typeof creds.token === 'string') return { field: 'credentials.token', value: creds.token.trim() };
  return undefined;
}

/** What the API may show of stored credentials: masked, enough to recognise them. */
export function credentialHint(channel: Channel, creds: Record<string, unknown>): Record<string, unknown> {
  if (channel === 'wechaty') {
    const c = creds as WechatyCredentials;
    return {
      token: maskSecret(c.token),
      endpoint: c.endpoint ? maskEndpoint(c.endpoint) : null,
      tls: c.tls?.insecure ? 'disabled' : c.tls?.ca_cert ? 'custom_ca' : 'default',
    };
  }
  return {};
}
