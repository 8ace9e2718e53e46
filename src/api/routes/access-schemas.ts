import { z } from 'zod';
import { registry } from '../openapi';

/** Response shapes shared by the access-control routes (auth, users, roles, tenants, API keys). */
const time = z.string().describe('ISO 8601 UTC');

export const RoleRef = z.object({ id: z.string(), role_code: z.string(), role_name: z.string() });

export const UserOut = registry.register(
  'User',
  z.object({
    id: z.string(),
    tenant_id: z.string(),
    username: z.string(),
    email: z.string(),
    phone: z.string().nullable(),
    real_name: z.string().nullable(),
    avatar_url: z.string().nullable(),
    status: z.enum(['active', 'inactive', 'locked', 'deleted']),
    last_login_time: time.nullable(),
    last_login_ip: z.string().nullable(),
    failed_login_count: z.number().int(),
    locked_until: time.nullable(),
    created_at: time,
    updated_at: time,
    roles: z.array(RoleRef),
  }),
);

export const RoleOut = registry.register(
  'Role',
  z.object({
    id: z.string(),
    tenant_id: z.string(),
    role_code: z.string(),
    role_name: z.string(),
    description: z.string().nullable(),
    permissions: z.array(z.string()),
    is_system: z.boolean(),
    is_active: z.boolean(),
    created_at: time,
    updated_at: time,
  }),
);

export const TenantOut = registry.register(
  'Tenant',
  z.object({
    id: z.string(),
    tenant_code: z.string(),
    tenant_name: z.string(),
    contact_person: z.string().nullable(),
    contact_phone: z.string().nullable(),
    contact_email: z.string().nullable(),
    plan: z.string(),
    timezone: z.string(),
    max_accounts: z.number().int(),
    max_daily_messages: z.number().int(),
    webhook_url: z.string().nullable(),
    config: z.record(z.unknown()),
    campaign_controls: z.object({
      frequency_cap: z.object({ per_day: z.number().nullable().optional(), per_week: z.number().nullable().optional(), per_month: z.number().nullable().optional() }).nullable(),
      account_hourly_cap: z.number().nullable(),
      account_daily_cap: z.number().nullable(),
      warmup: z.object({ first_day: z.number(), daily_increase_pct: z.number(), new_accounts: z.boolean().optional() }).nullable(),
      risk_pause: z.object({ threshold: z.number(), cooldown_seconds: z.number(), codes: z.array(z.string()).optional() }).nullable(),
    }),
    status: z.enum(['active', 'suspended', 'deleted']),
    created_at: time,
    updated_at: time,
  }),
);

export const ApiKeyOut = registry.register(
  'ApiKey',
  z.object({
    id: z.string(),
    tenant_id: z.string(),
    name: z.string(),
    key_prefix: z.string().describe('first characters of the key, for recognising it'),
    permissions: z.array(z.string()),
    created_by: z.string().nullable(),
    last_used_at: time.nullable(),
    expires_at: time.nullable(),
    revoked_at: time.nullable(),
    created_at: time,
  }),
);

export const TokenResponse = registry.register(
  'TokenResponse',
  z.object({
    access_token: z.string(),
    refresh_token: z.string().optional().describe("absent when it was set as the console's HttpOnly cookie (login with session: 'cookie')"),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int().describe('access token lifetime in seconds'),
    refresh_expires_at: time,
    user: UserOut,
  }),
);

export const IdParams = z.object({ id: z.string().min(1).max(36) });

/** A password policy good enough for operators: long beats complex. */
export const Password = z.string().min(10, 'at least 10 characters').max(200);

/** Tenant time zones must be IANA names the runtime knows (reports and schedules use them). */
export const TimeZone = z.string().max(64).refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'unknown IANA time zone');
