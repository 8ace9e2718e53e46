import { ALL, isPermission } from './permissions';

/** Entries of a requested permission list that are neither a known permission nor `*`. */
export function unknownPermissions(requested: readonly string[]): string[] {
  return requested.filter((p) => p !== ALL && !isPermission(p));
}

/**
 * Permissions in `requested` the granter does not hold itself. Nobody can hand out (to a role, a user
 * or an API key) more than they have, so holding `users:write` never escalates to `*`.
 */
export function permissionsBeyond(granted: ReadonlySet<string>, requested: readonly string[]): string[] {
  if (granted.has(ALL)) return [];
  return [...new Set(requested.filter((p) => !granted.has(p)))];
}
