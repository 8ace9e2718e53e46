import type { Knex } from 'knex';
import { newId } from './ids';
import { parseJson, toJson } from './json';
import { createBuiltInRoles } from './roles';

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
  status: TenantStatus;
  created_at: Date;
  updated_at: Date;
}

export function decodeTenant(row: Record<string, unknown>): TenantRow {
  return { ...(row as unknown as TenantRow), config: parseJson(row.config, {}) };
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
  });
  const roleIds = await createBuiltInRoles(trx, id);
  return { id, roleIds };
}
