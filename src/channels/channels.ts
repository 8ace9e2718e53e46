import { z } from 'zod';
import '../api/openapi';
import { maskEndpoint, maskSecret } from '../secrets/masking';

/**
 * The channels an account can be served by. `simulator` is the built-in gateway simulator (no
 * credentials); `wechaty` is a WeCom provider speaking Wechaty Puppet Service, reached through the
 * gateway-wechaty role with the account's provider token; `official` is WeCom's own server API (a
 * self-built app and the customer-contact API), called in process (src/gateway/official). A channel is
 * fixed when the account is created.
 */
export const CHANNELS = ['simulator', 'wechaty', 'official'] as const;
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

/** Credentials of an `official` account: the self-built app (自建应用) of a corp. */
export const officialCredentialsSchema = z
  .object({
    corp_id: z.string().trim().regex(/^[A-Za-z0-9_-]{4,64}$/, 'letters, digits, _ or -').openapi({ description: 'corp id (企业ID)' }),
    agent_id: z.coerce.number().int().positive().max(2 ** 31 - 1).openapi({ description: 'agent id of the self-built app (AgentId)' }),
    secret: z.string().trim().min(8).max(200).openapi({ description: 'app secret (Secret); stored encrypted, never returned' }),
    sender_userid: z
      .string()
      .trim()
      .min(1)
      .max(64)
      .optional()
      .openapi({ description: 'member (userid) who sends customer group-sends; needed for customer groups' }),
  })
  .strict()
  .openapi('OfficialCredentials');

export type OfficialCredentials = z.infer<typeof officialCredentialsSchema>;

/** Credentials by channel; a channel without credentials has none here. */
export const CREDENTIAL_SCHEMAS: Partial<Record<Channel, z.ZodTypeAny>> = {
  wechaty: wechatyCredentialsSchema,
  official: officialCredentialsSchema,
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
  if (channel === 'official') {
    // corp id and agent id identify the app (and route WeCom's callbacks to the account); only the secret is secret.
    const c = creds as OfficialCredentials;
    return { corp_id: c.corp_id, agent_id: c.agent_id, secret: maskSecret(c.secret), sender_userid: c.sender_userid ?? null };
  }
  return {};
}
