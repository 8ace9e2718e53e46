import { z } from 'zod';
import { DEFAULT_RISK_CODES } from '../../domain/campaign-controls';

/**
 * The tenant's campaign controls as the API takes them (PATCH /tenant `campaign_controls`). Applied as a
 * JSON merge patch (RFC 7386) on what is stored: keys given replace, nested ones merge, `null` turns a
 * control off. See src/domain/campaign-controls.ts for what each does.
 */
const cap = (max: number) => z.number().int().min(1).max(max).nullable().optional();

export const FrequencyCapSchema = z
  .object({
    per_day: cap(10_000).describe('campaign messages per recipient per tenant-local day'),
    per_week: cap(70_000).describe('per ISO week (Monday to Sunday, tenant-local)'),
    per_month: cap(300_000).describe('per calendar month'),
  })
  .strict();

export const WarmupSchema = z
  .object({
    first_day: z.number().int().min(1).max(1_000_000).describe("an account's allowance on its first warm-up day"),
    daily_increase_pct: z.number().min(1).max(1_000).describe('growth of the allowance per day, percent, until the daily cap'),
    new_accounts: z.boolean().optional().describe('accounts warm from their creation (default true); otherwise only accounts marked warming'),
  })
  .strict();

export const RiskPauseSchema = z
  .object({
    threshold: z.number().int().min(1).max(1_000).describe('consecutive rate-limited or risk-coded answers that pause the account'),
    cooldown_seconds: z.number().int().min(10).max(7 * 86_400),
    codes: z
      .array(z.string().trim().min(1).max(50))
      .max(20)
      .optional()
      .describe(`gateway error codes counted as risk (rate-limited answers always count); default ${DEFAULT_RISK_CODES.join(', ')}`),
  })
  .strict();

export const CampaignControlsSchema = z
  .object({
    frequency_cap: FrequencyCapSchema.nullable().optional(),
    account_hourly_cap: cap(1_000_000).describe("messages per account per tenant-local hour, beside the daily caps"),
    account_daily_cap: cap(1_000_000_000).describe("messages per account per tenant-local day (the tenant's own daily cap still applies)"),
    warmup: WarmupSchema.nullable().optional(),
    risk_pause: RiskPauseSchema.nullable().optional(),
  })
  .strict()
  .openapi('CampaignControls', { description: 'Applied as a JSON merge patch: keys given replace, null turns a control off' });
