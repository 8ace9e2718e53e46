/**
 * A private MariaDB and a private Redis for fault tests: own data directory, own port, started and
 * killed (SIGKILL) by the caller. Used by `npm run chaos` and by the outage tests, so they can kill the
 * database under a running service without touching the machine's shared servers.
 *
 * MariaDB runs with --no-defaults (the system my.cnf forces user=mysql) from a datadir made by
 * mariadb-install-db; Redis runs with AOF on (fsync every second, as deployed).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A port the OS considers free right now (bound then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on the port; throws after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 30_000, isAlive: () => boolean = () => true): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!isAlive()) throw new Error(`process for port ${port} exited while starting`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing listening on port ${port} after ${timeoutMs} ms`);
}

/** Every live private server of this process, killed on exit whatever happens to the caller. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

async function killHard(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** Base for a server process that can be SIGKILLed and started again on the same port and data. */
abstract class PrivateServer {
  protected child: ChildProcess | null = null;
  readonly dir: string;
  port = 0;

  protected constructor(label: string, parentDir?: string) {
    this.dir = mkdtempSync(path.join(parentDir ?? tmpdir(), `wwp-${label}-`));
  }

  protected abstract spawnServer(): ChildProcess;

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts (or restarts after a kill) and waits until it accepts connections. */
  async start(): Promise<void> {
    if (this.running) return;
    if (!this.port) this.port = await freePort();
    const child = track(this.spawnServer());
    this.child = child;
    await waitForPort(this.port, 60_000, () => child.exitCode === null && child.signalCode === null);
  }

  /** SIGKILL: no shutdown, no flush; what was not on disk is gone. */
  async kill9(): Promise<void> {
    await killHard(this.child);
  }

  /** Kills the server and removes its data directory. */
  async destroy(): Promise<void> {
    await this.kill9();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export class PrivateMariaDb extends PrivateServer {
  private constructor(parentDir?: string) {
    super('mariadb', parentDir);
  }

  /** mariadb-install-db into a fresh directory, then mariadbd on a free port. */
  static async create(opts: { parentDir?: string } = {}): Promise<PrivateMariaDb> {
    const db = new PrivateMariaDb(opts.parentDir);
    const data = path.join(db.dir, 'data');
    const install = spawnSync('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db'], {
      encoding: 'utf8',
    });
    if (install.status !== 0) {
      rmSync(db.dir, { recursive: true, force: true });
      throw new Error(`mariadb-install-db failed: ${install.stderr || install.stdout}`);
    }
    try {
      await db.start();
    } catch (err) {
      await db.destroy();
      throw err;
    }
    return db;
  }

  protected spawnServer(): ChildProcess {
    const args = [
      '--no-defaults',
      // Running as root needs saying so; the datadir is ours.
      ...(process.getuid?.() === 0 ? ['--user=root'] : []),
      `--datadir=${path.join(this.dir, 'data')}`,
      `--port=${this.port}`,
      '--bind-address=127.0.0.1',
      `--socket=${path.join(this.dir, 'mysqld.sock')}`,
      `--pid-file=${path.join(this.dir, 'mysqld.pid')}`,
      `--log-error=${path.join(this.dir, 'error.log')}`,
      '--innodb-buffer-pool-size=128M',
      '--max-connections=500',
      '--skip-name-resolve',
    ];
    return spawn('mariadbd', args, { stdio: 'ignore' });
  }

  /** Env for a process of the service talking to this server. */
  env(database: string): Record<string, string> {
    return { DB_HOST: '127.0.0.1', DB_PORT: String(this.port), DB_USER: 'root', DB_PASSWORD: '', DB_NAME: database };
  }
}

export class PrivateRedis extends PrivateServer {
  private constructor(parentDir?: string) {
    super('redis', parentDir);
  }

  static async create(opts: { parentDir?: string } = {}): Promise<PrivateRedis> {
    const r = new PrivateRedis(opts.parentDir);
    try {
      await r.start();
    } catch (err) {
      await r.destroy();
      throw err;
    }
    return r;
  }

  protected spawnServer(): ChildProcess {
    const args = [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--dir', this.dir,
      '--appendonly', 'yes',
      '--appendfsync', 'everysec',
      '--save', '',
      '--daemonize', 'no',
      '--logfile', path.join(this.dir, 'redis.log'),
    ];
    return spawn('redis-server', args, { stdio: 'ignore' });
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
}
