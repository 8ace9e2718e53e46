/**
 * Errors that mean "the database (or Redis) cannot be reached right now", as opposed to a bug or a bad
 * request: the connection was refused, lost or timed out, the pool could not hand out a connection, the
 * server is shutting down. Callers answer these with 503 + Retry-After (a gateway then retries), and
 * background loops log and try again; nobody exits over them.
 */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTCONN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_SERVER_SHUTDOWN_COMPLETE',
]);

export function isStoreUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown; message?: unknown; fatal?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  // knex: no connection came out of the pool in time (MySQL unreachable, or the pool exhausted by it).
  if (e.name === 'KnexTimeoutError') return true;
  // mysql2: a command given to a connection that already died.
  if (e.fatal === true && typeof e.message === 'string' && /closed state|Connection lost/i.test(e.message)) return true;
  // ioredis: the command could not be sent (Redis down past its retries, or the connection closed).
  if (e.name === 'MaxRetriesPerRequestError') return true;
  if (typeof e.message === 'string' && /^Connection is closed\.?$/.test(e.message)) return true;
  return false;
}

/** Seconds a client should wait before retrying while the database is unreachable. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;
