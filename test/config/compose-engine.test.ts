import knexFactory from 'knex';
import { DB_CHARSET, DB_COLLATION } from '../../src/db/knex';
import { commandArgs, databaseService, loadCompose } from '../deploy/compose';

/**
 * Compose's database is the engine the suite runs on: the same MariaDB series, and the server options
 * the code relies on set to what the test server runs with.
 */
const db = databaseService(loadCompose());

describe('the database engine is the one the tests run on', () => {
  const admin = knexFactory({ client: 'mysql2', connection: { host: process.env.DB_HOST ?? '127.0.0.1', port: Number(process.env.DB_PORT ?? 3306), user: process.env.DB_USER ?? 'root', password: process.env.DB_PASSWORD ?? '' }, pool: { min: 0, max: 1 } });
  afterAll(() => admin.destroy());
  const option = (name: string) => commandArgs(db.service).find((a) => a.startsWith(`--${name}=`))?.split('=').slice(1).join('=');
  const variable = async (name: string): Promise<string> => {
    const [rows] = (await admin.raw('SELECT @@GLOBAL.?? AS v', [name])) as [Array<{ v: unknown }>];
    return String(rows[0].v);
  };

  test('compose runs MariaDB of the same major.minor series as the test server, pinned to that series', async () => {
    const tested = (await variable('version')).match(/^(\d+\.\d+)\.\d+-MariaDB/);
    expect(tested).not.toBeNull();
    expect(db.service.image).toBe(`mariadb:${tested![1]}`);
  });

  test('server options are the ones the code relies on and the tests run under', async () => {
    expect(option('character-set-server')).toBe(DB_CHARSET);
    expect(option('collation-server')).toBe(DB_COLLATION);
    expect(option('default-time-zone')).toBe('+00:00');
    // Strict mode (bad values fail instead of being truncated) exactly as the tests see it.
    expect(option('sql-mode')).toBe(await variable('sql_mode'));
    // The code retries deadlocks; it does not expect "record has changed since last read" (MariaDB 11.8's default).
    expect(option('innodb-snapshot-isolation')).toBe('OFF');
    expect(await variable('innodb_snapshot_isolation')).toBe('0');
  });
});
