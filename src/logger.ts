import { AsyncLocalStorage } from 'node:async_hooks';
import pino from 'pino';

/** Carries the request id (or job id) through async calls so every log line can be correlated. */
export const logContext = new AsyncLocalStorage<{ requestId: string }>();

export const logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  redact: ['req.headers.authorization', 'req.headers["x-api-key"]', '*.password', '*.password_hash'],
  mixin() {
    const store = logContext.getStore();
    return store ? { requestId: store.requestId } : {};
  },
});

export type Logger = typeof logger;
