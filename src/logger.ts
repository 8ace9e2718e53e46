import { AsyncLocalStorage } from 'node:async_hooks';
import pino, { type LoggerOptions } from 'pino';

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

export type LogFormat = 'json' | 'pretty';

/**
 * Readable lines for a person at a terminal in development; JSON lines everywhere else (production,
 * files, pipes, tests), which is what log shippers parse. LOG_FORMAT=json|pretty overrides `auto`.
 * pino-pretty is a dev dependency: production with `auto` never even looks for it, and when it is
 * missing (a pruned install) `pretty` falls back to JSON.
 */
export function chooseLogFormat(o: { nodeEnv?: string; logFormat?: string; isTTY: boolean; prettyInstalled: () => boolean }): LogFormat {
  const wanted = o.logFormat || 'auto';
  if (wanted === 'json') return 'json';
  if (wanted === 'auto' && !((o.nodeEnv || 'development') === 'development' && o.isTTY)) return 'json';
  return o.prettyInstalled() ? 'pretty' : 'json';
}

function prettyInstalled(): boolean {
  try {
    require.resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

const format = chooseLogFormat({
  nodeEnv: process.env.NODE_ENV,
  logFormat: process.env.LOG_FORMAT,
  isTTY: Boolean(process.stdout.isTTY),
  prettyInstalled,
});

const options: LoggerOptions = {
  level: process.env.LOG_LEVEL ?? 'info',
  redact: LOG_REDACT_PATHS,
  mixin() {
    const store = logContext.getStore();
    return store ? { requestId: store.requestId } : {};
  },
  // pino's own pretty transport runs in a worker thread, off the event loop of the service.
  ...(format === 'pretty'
    ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } }
    : {}),
};

export const logger = pino(options);

if (process.env.LOG_FORMAT === 'pretty' && format === 'json') {
  logger.warn('LOG_FORMAT=pretty, but pino-pretty (a dev dependency) is not installed: logging JSON');
}

export type Logger = typeof logger;
