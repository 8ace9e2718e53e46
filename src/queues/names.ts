/**
 * Every BullMQ queue of the platform. Each lives under one hash-tagged prefix so its keys sit in one
 * Redis Cluster slot: the base prefix (REDIS_PREFIX, `{wwp}` by default), except message-send, which has
 * one queue per hash-tag shard (REDIS_SHARDS; `{wwp:0}` … — an account's kicks go to its shard's queue). Job payload types live next to the
 * code that produces them (src/queues/payloads.ts).
 */
export const QUEUE = {
  accountLogin: 'account-login',
  taskExpand: 'task-expand',
  messageSend: 'message-send',
  callbackProcess: 'callback-process',
} as const;

export type QueueName = (typeof QUEUE)[keyof typeof QUEUE];
