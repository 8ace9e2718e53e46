import { AsyncLocalStorage } from 'node:async_hooks';
import pino from 'pino';

/** Carries the request id (or job id) through async calls so every log line can be correlated. */
export const logContext = new AsyncLocalStorage<{ requestId: string }>();

/** Channel secrets (provider tokens, endpoints, app secrets) never reach a log line, wherever they sit. */
export const LOG_REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  '*.password',
  '*.password_hash',
  'credentials',
  '*.credentials',
  '*.*.credentials',
  'token',
  '*.token',
  'endpoint',
  '*.endpoint',
  '*.secret',
  '*.app_secret',
  '*.sealed',
];

export const logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  redact: LOG_REDACT_PATHS,
  mixin() {
    const store = logContext.getStore();
    return store ? { requestId: store.requestId } : {};
  },
});

export type Logger = typeof logger;
