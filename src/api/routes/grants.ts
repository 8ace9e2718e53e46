import type { Request } from 'express';
import { permissionsBeyond, unknownPermissions } from '../../domain/permission-grants';
import { ForbiddenError, ValidationError } from '../../errors';
import { principalOf } from '../principal';

/**
 * Validates a permission list sent for a role or an API key: unknown names are a 400 naming each entry
 * (`body.permissions[2]`), and permissions the caller does not hold are a 403 permission_escalation.
 * Returns the list without duplicates.
 */
export function checkGrantablePermissions(req: Request, permissions: string[]): string[] {
  const unique = [...new Set(permissions)];
  const unknown = unknownPermissions(unique);
  if (unknown.length > 0) {
    throw new ValidationError(
      unknown.map((p) => ({ field: `body.permissions[${permissions.indexOf(p)}]`, message: `unknown permission ${p}`, code: 'unknown_permission' })),
      `unknown permission: ${unknown.join(', ')}`,
    );
  }
  assertWithinOwnPermissions(req, unique, 'body.permissions');
  return unique;
}

export function assertWithinOwnPermissions(req: Request, requested: string[], field: string): void {
  const beyond = permissionsBeyond(principalOf(req).permissions, requested);
  if (beyond.length > 0) {
    throw new ForbiddenError('cannot grant permissions you do not hold', 'permission_escalation', { field, permissions: beyond });
  }
}

/**
 * Refuses any action (edit, password reset, lock, deactivate, delete, role change, revoke) on an
 * operator, API key or role holding permissions the caller lacks: 403 target_outranks_caller. The same
 * rule as for grants, since acting on a stronger account is a way to borrow its permissions.
 */
export function assertNotOutranked(req: Request, target: { type: 'user' | 'api_key' | 'role'; id: string; permissions: readonly string[] }): void {
  const beyond = permissionsBeyond(principalOf(req).permissions, target.permissions);
  if (beyond.length > 0) {
    throw new ForbiddenError(`this ${target.type.replace('_', ' ')} holds permissions you do not hold`, 'target_outranks_caller', {
      target_type: target.type,
      target_id: target.id,
      permissions: beyond,
    });
  }
}
