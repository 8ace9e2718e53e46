/**
 * Every BullMQ queue of the platform. All share the hash-tagged prefix from config (REDIS_PREFIX, `{wwp}`
 * by default) so each queue's keys sit in one Redis Cluster slot. Job payload types live next to the
 * code that produces them (src/queues/payloads.ts).
 */
export const QUEUE = {
  accountLogin: 'account-login',
  taskExpand: 'task-expand',
  messageSend: 'message-send',
  callbackProcess: 'callback-process',
  webhookDeliver: 'webhook-deliver',
} as const;

export type QueueName = (typeof QUEUE)[keyof typeof QUEUE];
