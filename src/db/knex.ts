import knexFactory, { type Knex } from 'knex';
import type { Config } from '../config';

/** Character set and collation of every database and table (compose starts the server with the same). */
export const DB_CHARSET = 'utf8mb4';
export const DB_COLLATION = 'utf8mb4_unicode_ci';

/** Connection settings shared by the pool and the bootstrap connection. UTC everywhere. */
function connection(db: Config['db'], database?: string, connectTimeout?: number): Knex.MySql2ConnectionConfig {
  return {
    ...(connectTimeout ? { connectTimeout } : {}),
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database,
    timezone: 'Z',
    charset: DB_CHARSET,
    supportBigNumbers: true,
    bigNumberStrings: false,
    dateStrings: false,
  };
}

/**
 * `failFastMs` bounds connecting and waiting for a pooled connection: for a pool with somewhere else to
 * turn (the read replica falls back to the primary), not for the primary, whose callers wait it out.
 */
export function createKnex(db: Config['db'], opts: { poolMax?: number; failFastMs?: number; log?: Knex.Logger } = {}): Knex {
  return knexFactory({
    client: 'mysql2',
    ...(opts.log ? { log: opts.log } : {}),
    connection: connection(db, db.database, opts.failFastMs),
    ...(opts.failFastMs ? { acquireConnectionTimeout: opts.failFastMs } : {}),
    pool: {
      min: 0,
      max: opts.poolMax ?? db.poolMax,
      // Pin the session time zone so CURRENT_TIMESTAMP and DATETIME values are UTC.
      afterCreate(conn: { query: (sql: string, cb: (err: Error | null) => void) => void }, done: (err: Error | null, c: unknown) => void) {
        conn.query("SET time_zone = '+00:00'", (err) => done(err, conn));
      },
    },
  });
}

/** Creates the database if it does not exist (utf8mb4). */
export async function ensureDatabase(db: Config['db']): Promise<void> {
  const admin = knexFactory({ client: 'mysql2', connection: connection(db), pool: { min: 0, max: 1 } });
  try {
    await admin.raw(
      `CREATE DATABASE IF NOT EXISTS \`${db.database}\` CHARACTER SET ${DB_CHARSET} COLLATE ${DB_COLLATION}`,
    );
  } finally {
    await admin.destroy();
  }
}

export async function dropDatabase(db: Config['db']): Promise<void> {
  const admin = knexFactory({ client: 'mysql2', connection: connection(db), pool: { min: 0, max: 1 } });
  try {
    await admin.raw(`DROP DATABASE IF EXISTS \`${db.database}\``);
  } finally {
    await admin.destroy();
  }
}
