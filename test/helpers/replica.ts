import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createConnection } from 'mysql2/promise';
import { freePort } from './ports';
import { REPO_ROOT, runCommand } from './processes';
import { assertServicesAllowed } from './services';
import { waitFor } from './wait';

/**
 * A private MariaDB primary + replica pair started by scripts/mariadb-replica.sh (own directory, free
 * ports), so a test file can stop, delay or kill its replica without touching anyone else's.
 *
 *   const pair = await startReplicaPair();
 *   const env = await createTestEnv('x', { env: pair.env({ DB_READ_MAX_LAG_SECONDS: '2' }) });
 *   ...
 *   await pair.down();   // stops both servers and deletes the directory
 */
export interface ReplicaPair {
  primaryPort: number;
  replicaPort: number;
  /** DB_HOST/DB_PORT of the primary and DB_READ_HOST/DB_READ_PORT of the replica. */
  env(extra?: Record<string, string>): Record<string, string>;
  /** Runs statements as root on one of the two servers; returns the rows of the last one. */
  sql(on: 'primary' | 'replica', statement: string): Promise<Array<Record<string, unknown>>>;
  /** `scripts/mariadb-replica.sh up` again: restarts whatever is not running, resumes replication. */
  up(): Promise<void>;
  /** SIGKILLs the replica's mariadbd and waits until it is gone. */
  killReplica(): Promise<void>;
  /** Until the replica has applied everything the primary wrote so far. */
  caughtUp(): Promise<void>;
  down(): Promise<void>;
}

const SCRIPT = path.join(REPO_ROOT, 'scripts', 'mariadb-replica.sh');

export async function startReplicaPair(): Promise<ReplicaPair> {
  assertServicesAllowed('startReplicaPair');
  const dir = mkdtempSync(path.join(tmpdir(), 'wwp-replica-'));
  const primaryPort = await freePort();
  let replicaPort = await freePort();
  while (replicaPort === primaryPort) replicaPort = await freePort();
  const scriptEnv = { ...process.env, MARIADB_REPLICA_DIR: dir, MARIADB_PRIMARY_PORT: String(primaryPort), MARIADB_REPLICA_PORT: String(replicaPort) };
  const run = (...args: string[]) => runCommand('bash', [SCRIPT, ...args], { env: scriptEnv, timeout: 120_000 });

  const sql = async (on: 'primary' | 'replica', statement: string) => {
    const conn = await createConnection({
      host: '127.0.0.1',
      port: on === 'primary' ? primaryPort : replicaPort,
      user: 'root',
      password: '',
      multipleStatements: true,
    });
    try {
      const [result] = await conn.query(statement);
      const results = Array.isArray(result) && Array.isArray(result[0]) ? result[result.length - 1] : result;
      return (Array.isArray(results) ? results : []) as Array<Record<string, unknown>>;
    } finally {
      await conn.end();
    }
  };

  try {
    await run('up');
  } catch (err) {
    await run('down', '--purge').catch(() => rmSync(dir, { recursive: true, force: true }));
    throw err;
  }
  return {
    primaryPort,
    replicaPort,
    env: (extra = {}) => ({ DB_HOST: '127.0.0.1', DB_PORT: String(primaryPort), DB_READ_HOST: '127.0.0.1', DB_READ_PORT: String(replicaPort), ...extra }),
    sql,
    up: async () => {
      await run('up');
    },
    async killReplica() {
      const pid = Number(readFileSync(path.join(dir, 'replica', 'mariadbd.pid'), 'utf8'));
      process.kill(pid, 'SIGKILL');
      await waitFor(() => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      }, 'the replica mariadbd to die after SIGKILL');
    },
    async caughtUp() {
      const [{ pos }] = await sql('primary', 'SELECT @@gtid_binlog_pos AS pos');
      await waitFor(
        async () => {
          const [row] = await sql('replica', `SELECT MASTER_GTID_WAIT('${String(pos)}', 1) AS r`);
          return Number(row.r) === 0;
        },
        `the replica to apply the primary's GTID ${String(pos)}`,
        30_000,
      );
    },
    async down() {
      await run('down', '--purge');
    },
  };
}
