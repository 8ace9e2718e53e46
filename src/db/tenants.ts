import type { Knex } from 'knex';
import { newId } from './ids';
import { parseJson, toJson } from './json';
import { createBuiltInRoles } from './roles';
import { controlsOf, type CampaignControls } from '../domain/campaign-controls';

export type TenantStatus = 'active' | 'suspended' | 'deleted';

export interface TenantRow {
  id: string;
  tenant_code: string;
  tenant_name: string;
  contact_person: string | null;
  contact_phone: string | null;
  contact_email: string | null;
  plan: string;
  timezone: string;
  max_accounts: number;
  max_daily_messages: number;
  webhook_url: string | null;
  config: Record<string, unknown>;
  /** Caps, warm-up and risk pause (src/domain/campaign-controls.ts); every control null = off. */
  campaign_controls: CampaignControls;
  status: TenantStatus;
  created_at: Date;
  updated_at: Date;
}

export function decodeTenant(row: Record<string, unknown>): TenantRow {
  return { ...(row as unknown as TenantRow), config: parseJson(row.config, {}), campaign_controls: controlsOf(parseJson(row.campaign_controls, null)) };
}

export async function findTenant(db: Knex, id: string): Promise<TenantRow | undefined> {
  const row = await db('tenants').where({ id }).whereNot({ status: 'deleted' }).first();
  return row ? decodeTenant(row) : undefined;
}

export async function getTenantStatus(db: Knex, id: string): Promise<TenantStatus | undefined> {
  const row = await db('tenants').select('status').where({ id }).first();
  return row?.status;
}

export interface NewTenant {
  tenantCode: string;
  tenantName: string;
  contactPerson?: string | null;
  contactPhone?: string | null;
  contactEmail?: string | null;
  plan?: string;
  timezone?: string;
  maxAccounts?: number;
  maxDailyMessages?: number;
  webhookUrl?: string | null;
  config?: Record<string, unknown>;
  campaignControls?: Record<string, unknown>;
}

/** Inserts a tenant with its built-in roles, in the caller's transaction. */
export async function insertTenant(
  trx: Knex.Transaction,
  t: NewTenant,
): Promise<{ id: string; roleIds: Record<string, string> }> {
  const id = newId();
  await trx('tenants').insert({
    id,
    tenant_code: t.tenantCode,
    tenant_name: t.tenantName,
    contact_person: t.contactPerson ?? null,
    contact_phone: t.contactPhone ?? null,
    contact_email: t.contactEmail ?? null,
    plan: t.plan ?? 'standard',
    timezone: t.timezone ?? 'Asia/Shanghai',
    max_accounts: t.maxAccounts ?? 10,
    max_daily_messages: t.maxDailyMessages ?? 10000,
    webhook_url: t.webhookUrl ?? null,
    config: toJson(t.config ?? {}),
    campaign_controls: t.campaignControls ? toJson(t.campaignControls) : null,
  });
  const roleIds = await createBuiltInRoles(trx, id);
  return { id, roleIds };
}

/** Any tenant by id, deleted ones included (the platform admin still sees them). */
export async function getTenantAnyStatus(db: Knex | Knex.Transaction, id: string, opts: { forUpdate?: boolean } = {}): Promise<TenantRow | undefined> {
  const q = db('tenants').where({ id });
  if (opts.forUpdate) q.forUpdate();
  const row = await q.first();
  return row ? decodeTenant(row) : undefined;
}

/** The tenant a login names; deleted tenants do not exist for login. */
export async function findTenantByCode(db: Knex, code: string): Promise<TenantRow | undefined> {
  const row = await db('tenants').where({ tenant_code: code }).whereNot({ status: 'deleted' }).first();
  return row ? decodeTenant(row) : undefined;
}

/** The codes of the given tenants (deleted ones included), by id: one query for a page of rows naming tenants. */
export async function tenantCodesById(db: Knex, ids: ReadonlyArray<string | null>): Promise<Map<string, string>> {
  const wanted = [...new Set(ids.filter((id): id is string => id !== null))];
  if (!wanted.length) return new Map();
  const rows = (await db('tenants').whereIn('id', wanted).select('id', 'tenant_code')) as Array<{ id: string; tenant_code: string }>;
  return new Map(rows.map((r) => [r.id, r.tenant_code]));
}

export function tenantsQuery(db: Knex, filters: { status?: TenantStatus; q?: string }): Knex.QueryBuilder {
  const q = db('tenants');
  if (filters.status) q.where({ status: filters.status });
  if (filters.q) {
    const like = `%${filters.q.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
    q.where((w) => w.where('tenant_code', 'like', like).orWhere('tenant_name', 'like', like));
  }
  return q;
}

/** Column values by the API's field names (snake_case, same as the table). */
export type TenantPatch = Partial<
  Pick<
    TenantRow,
    | 'tenant_name'
    | 'contact_person'
    | 'contact_phone'
    | 'contact_email'
    | 'plan'
    | 'timezone'
    | 'max_accounts'
    | 'max_daily_messages'
    | 'webhook_url'
    | 'config'
    | 'status'
  >
> & { campaign_controls?: Partial<Record<keyof CampaignControls, unknown>> };

export async function updateTenant(db: Knex | Knex.Transaction, id: string, patch: TenantPatch): Promise<void> {
  const row: Record<string, unknown> = { ...patch };
  if (patch.config !== undefined) row.config = toJson(patch.config);
  // A merge patch applied by the database: concurrent changes of different controls both stay.
  if (patch.campaign_controls !== undefined) row.campaign_controls = db.raw(`JSON_MERGE_PATCH(COALESCE(campaign_controls, '{}'), ?)`, [toJson(patch.campaign_controls)]);
  if (Object.keys(row).length > 0) await db('tenants').where({ id }).update(row);
}
