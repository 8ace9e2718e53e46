import type { Permission } from './permissions';

/**
 * Every Socket.IO event the service pushes to operators, and the permission a socket needs to receive
 * it: a socket only hears what its principal could read through the API (a key limited to tasks gets
 * no account QR events or conversation text). A new event must be added here, which forces that choice.
 */
export const REALTIME_EVENT_PERMISSION = {
  'task.status': 'tasks:read',
  'task.progress': 'tasks:read',
  'task.stalled': 'tasks:read',
  'account.status': 'accounts:read',
  'account.qr': 'accounts:read',
  'account.risk': 'accounts:read',
  'conversation.message': 'conversations:read',
  'webhook.endpoint_disabled': 'webhooks:read',
} as const satisfies Record<string, Permission>;

export type RealtimeEvent = keyof typeof REALTIME_EVENT_PERMISSION;

/** The distinct permissions that gate realtime events, i.e. the rooms a socket may join. */
export const REALTIME_READ_PERMISSIONS: readonly Permission[] = [...new Set(Object.values(REALTIME_EVENT_PERMISSION))];
