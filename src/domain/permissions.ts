/**
 * Every permission a route can require. Roles hold lists of these; `*` grants everything in the tenant.
 * Names are `<resource>:<action>` so a reader finds the route guarding a behaviour by its name.
 */
export const PERMISSIONS = [
  'tenant:read',
  'tenant:write',
  'users:read',
  'users:write',
  'roles:read',
  'roles:write',
  'api_keys:read',
  'api_keys:write',
  'audit:read',
  'accounts:read',
  'accounts:write',
  'accounts:login',
  'conversations:read',
  'conversations:sync',
  'templates:read',
  'templates:write',
  'tasks:read',
  'tasks:write',
  'tasks:control',
  'messages:read',
  'messages:send',
  'files:read',
  'files:write',
  'callbacks:read',
  'callbacks:redrive',
  'reports:read',
  'cron:read',
  'webhooks:read',
  'webhooks:write',
] as const;

export type Permission = (typeof PERMISSIONS)[number];
export const ALL = '*';

// Webhook endpoints and their delivery log are tenant administration, like API keys: admins only by default.
const readOnly = PERMISSIONS.filter((p) => p.endsWith(':read') && p !== 'webhooks:read');

/** The roles every tenant is created with (is_system = 1; their permission lists cannot be edited). */
export const BUILT_IN_ROLES: ReadonlyArray<{ code: string; name: string; permissions: readonly string[] }> = [
  { code: 'admin', name: 'Administrator', permissions: [ALL] },
  {
    code: 'operator',
    name: 'Operator',
    permissions: [
      ...readOnly.filter((p) => p !== 'audit:read' && p !== 'api_keys:read'),
      'accounts:write',
      'accounts:login',
      'conversations:sync',
      'templates:write',
      'tasks:write',
      'tasks:control',
      'messages:send',
      'files:write',
    ],
  },
  { code: 'viewer', name: 'Viewer', permissions: readOnly.filter((p) => p !== 'audit:read' && p !== 'api_keys:read') },
];

export function isPermission(value: string): value is Permission {
  return (PERMISSIONS as readonly string[]).includes(value);
}

export function hasPermission(granted: ReadonlySet<string>, needed: Permission): boolean {
  return granted.has(ALL) || granted.has(needed);
}
