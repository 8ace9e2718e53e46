import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection, type Connection } from 'mysql2/promise';
import { freePort } from '../helpers/ports';

/**
 * Private servers standing in for compose's infrastructure containers: each on a random loopback port
 * with its own data directory, started with the options compose gives the container.
 */
export interface LocalServer {
  port: number;
  stop(): Promise<void>;
}

const asRoot = process.getuid?.() === 0;

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const hard = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', () => {
      clearTimeout(hard);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function until<T>(what: string, child: ChildProcess, log: () => string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}):\n${log().slice(-3000)}`);
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what} did not come up: ${(err as Error).message}\n${log().slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface LocalMariadb extends LocalServer {
  /** A root connection (no password, loopback only) for setup and checks. */
  root(): Promise<Connection>;
}

/**
 * A fresh MariaDB data directory (like a new compose volume) and `mariadbd` started with the compose
 * service's `command` options and nothing else from this machine's my.cnf (--no-defaults), so the app
 * sees the server compose runs, not the tuned one on this machine. The buffer pool is kept small (a
 * resource setting, not a behaviour one): the machine is shared.
 */
export async function startMariadb(dir: string, serverOptions: string[]): Promise<LocalMariadb> {
  mkdirSync(dir, { recursive: true });
  const data = join(dir, 'data');
  const user = asRoot ? ['--user=root'] : [];
  const install = spawnSync('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', ...user], { encoding: 'utf8' });
  if (install.status !== 0) throw new Error(`mariadb-install-db failed: ${install.stderr}`);
  const port = await freePort();
  const binary = existsSync('/usr/sbin/mariadbd') ? '/usr/sbin/mariadbd' : 'mariadbd';
  let log = '';
  const child = spawn(
    binary,
    ['--no-defaults', `--datadir=${data}`, `--port=${port}`, '--bind-address=127.0.0.1', `--socket=${join(dir, 'mariadb.sock')}`, `--pid-file=${join(dir, 'mariadb.pid')}`, '--innodb-buffer-pool-size=32M', ...user, ...serverOptions],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (d: Buffer) => (log = (log + d.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const root = () => createConnection({ host: '127.0.0.1', port, user: 'root', password: '', multipleStatements: true });
  await until('mariadbd', child, () => log, async () => (await root()).end());
  return { port, root, stop: () => stopChild(child) };
}

/** `redis-server` with the compose service's arguments (after the binary), on a random port in `dir`. */
export async function startRedis(dir: string, composeCommand: string[]): Promise<LocalServer> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const args = composeCommand[0] === 'redis-server' ? composeCommand.slice(1) : composeCommand;
  let log = '';
  const child = spawn('redis-server', [...args, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''], { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (d: Buffer) => (log = (log + d.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  await until('redis-server', child, () => log, async () => {
    const r = spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' });
    if (!r.stdout.includes('PONG')) throw new Error(r.stderr || r.stdout);
  });
  return { port, stop: () => stopChild(child) };
}
