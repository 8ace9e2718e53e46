import type { Knex } from 'knex';
import { countTenantAdmins } from '../../db/users';
import { ConflictError } from '../../errors';

/**
 * Wraps a change to operators or roles inside a transaction: if the change took the tenant from some
 * administrators to none, it is refused (and rolled back), since nobody could manage the tenant again.
 */
export async function keepingAnAdmin<T>(trx: Knex.Transaction, tenantId: string, change: () => Promise<T>): Promise<T> {
  // Serialise admin-affecting changes per tenant, so two admins demoting each other cannot both pass.
  await trx('tenants').where({ id: tenantId }).forUpdate().first('id');
  const before = await countTenantAdmins(trx, tenantId);
  const result = await change();
  if (before > 0 && (await countTenantAdmins(trx, tenantId)) === 0) {
    throw new ConflictError('this change would leave the tenant without an administrator', 'last_admin');
  }
  return result;
}
