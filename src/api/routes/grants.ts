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
