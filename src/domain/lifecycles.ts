import { InvalidTransitionError } from '../errors';

/**
 * Allowed status changes of tenants and operators. Routes ask here before writing, so an illegal step
 * (resuming a deleted tenant, unlocking a deactivated operator) is a 409 with the current state.
 */
type Table<S extends string, A extends string> = Record<A, { from: readonly S[]; to: S }>;

export type TenantStatus = 'active' | 'suspended' | 'deleted';
export type TenantAction = 'suspend' | 'resume' | 'delete';

const TENANT: Table<TenantStatus, TenantAction> = {
  suspend: { from: ['active'], to: 'suspended' },
  resume: { from: ['suspended'], to: 'active' },
  delete: { from: ['active', 'suspended'], to: 'deleted' },
};

export type UserStatus = 'active' | 'inactive' | 'locked' | 'deleted';
export type UserAction = 'activate' | 'deactivate' | 'unlock' | 'delete';

const USER: Table<UserStatus, UserAction> = {
  activate: { from: ['inactive'], to: 'active' },
  deactivate: { from: ['active', 'locked'], to: 'inactive' },
  // Unlocking an active operator just clears its failure count.
  unlock: { from: ['locked', 'active'], to: 'active' },
  delete: { from: ['active', 'inactive', 'locked'], to: 'deleted' },
};

function next<S extends string, A extends string>(entity: string, table: Table<S, A>, current: S, action: A): S {
  const rule = table[action];
  if (!rule.from.includes(current)) throw new InvalidTransitionError(entity, current, rule.to);
  return rule.to;
}

export const nextTenantStatus = (current: TenantStatus, action: TenantAction): TenantStatus => next('tenant', TENANT, current, action);
export const nextUserStatus = (current: UserStatus, action: UserAction): UserStatus => next('user', USER, current, action);
