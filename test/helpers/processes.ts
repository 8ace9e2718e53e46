import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Config } from '../../src/config';
import { http } from './http';
import { assertServicesAllowed } from './services';
import { waitFor, within } from './wait';

/**
 * How long a child may take to start (tsx compiles the app on the way in). Generous: on a loaded shared
 * machine a cold start has taken 30+ s of wall time for 3 s of CPU. Files that start processes raise
 * jest's timeout to match (`jest.setTimeout(PROCESS_TEST_TIMEOUT_MS)`).
 */
export const START_TIMEOUT_MS = 90_000;
export const PROCESS_TEST_TIMEOUT_MS = 240_000;

/**
 * Child processes in tests: the real entry point (`src/main.ts --role …`) or a fixture script, always
 * run as `node --import tsx <script>` so the pid we hold is the process itself. (The tsx CLI would run
 * the script in a grandchild that a SIGKILL of the child leaves running.)
 *
 * Every spawned process is tracked; test/setup-after-env.ts kills whatever a test file left running.
 */

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnRoleOptions {
  /** Roles for the real entry point (`--role`), e.g. 'worker' or 'api,worker'. Ignored with `script`. */
  role?: string;
  /** A fixture script instead of src/main.ts (absolute, or relative to the repository root). */
  script?: string;
  args?: string[];
  /** Run against this test environment's database, Redis prefix and files directory. */
  config?: Config;
  /** Extra environment variables (they win over the derived ones). */
  env?: Record<string, string>;
  /** A short name for error messages; default the role or the script's file name. */
  label?: string;
}

export interface SpawnedRole {
  readonly label: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** How it exited, once it has. */
  readonly exit: ExitInfo | undefined;
  /** The last 64 KiB of stdout and stderr, interleaved as received. */
  output(): string;
  /** Resolves with the match once the output (so far or later) matches `pattern`; fails if the process exits first. */
  waitForOutput(pattern: RegExp, what: string, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends a signal now (no wait). */
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM, then waits for the exit (SIGKILL after `timeoutMs`, and then the wait fails). */
  stop(timeoutMs?: number): Promise<ExitInfo>;
  /** SIGKILL and waits for the exit. */
  kill(): Promise<ExitInfo>;
}

const running = new Set<SpawnedRole>();

/** The environment a child needs to share a test's database, Redis prefix and files directory. */
export function envForConfig(config: Config): Record<string, string> {
  return {
    NODE_ENV: 'test',
    DB_NAME: config.db.database,
    REDIS_PREFIX: config.redis.prefix,
    REDIS_SHARDS: String(config.redis.shards ?? 1),
    ...(config.redis.clusterNodes ? { REDIS_CLUSTER_NODES: config.redis.clusterNodes.map((n) => `${n.host}:${n.port}`).join(',') } : {}),
    FILES_DIR: config.files.dir,
    PASSWORD_HASH_MEMORY_KIB: String(config.auth.hashMemoryKib),
    PASSWORD_HASH_TIME_COST: String(config.auth.hashTimeCost),
  };
}

/**
 * Starts a role (or a fixture) as a child process.
 *
 *   const worker = spawnRole({ role: 'worker', config: env.config, env: { SIMULATOR_PORT: port } });
 *   await worker.waitForOutput(/workers started/, 'worker start-up');
 *   expect(await worker.stop()).toEqual({ code: 0, signal: null });
 */
export function spawnRole(opts: SpawnRoleOptions): SpawnedRole {
  assertServicesAllowed('spawnRole');
  const script = opts.script ? path.resolve(REPO_ROOT, opts.script) : path.join(REPO_ROOT, 'src', 'main.ts');
  const args = [...(opts.script ? [] : opts.role ? ['--role', opts.role] : []), ...(opts.args ?? [])];
  const label = opts.label ?? (opts.script ? path.basename(script) : `role ${opts.role ?? 'all'}`);
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      ...(opts.config ? envForConfig(opts.config) : {}),
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const listeners = new Set<() => void>();
  const keep = (d: Buffer) => {
    out = (out + d.toString('utf8')).slice(-65_536);
    for (const l of listeners) l();
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exit: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      running.delete(handle);
      for (const l of listeners) l();
      resolve(exit);
    });
  });

  const handle: SpawnedRole = {
    label,
    child,
    pid: child.pid!,
    exited,
    get exit() {
      return exit;
    },
    output: () => out,
    waitForOutput(pattern, what, timeoutMs = START_TIMEOUT_MS) {
      return within(
        new Promise<RegExpMatchArray>((resolve, reject) => {
          const check = () => {
            const m = out.match(pattern);
            if (m) {
              listeners.delete(check);
              resolve(m);
            } else if (exit) {
              listeners.delete(check);
              reject(new Error(`${label} exited (${JSON.stringify(exit)}) before ${what}; output:\n${out.slice(-4000)}`));
            }
          };
          listeners.add(check);
          check();
        }),
        `${what} (${label}); output so far:\n${out.slice(-2000)}`,
        timeoutMs,
      );
    },
    signal(sig) {
      if (!exit) child.kill(sig);
    },
    async stop(timeoutMs = 30_000) {
      if (exit) return exit;
      child.kill('SIGTERM');
      try {
        return await within(exited, `${label} to exit after SIGTERM`, timeoutMs);
      } catch (err) {
        child.kill('SIGKILL');
        await exited;
        throw new Error(`${(err as Error).message}; output:\n${out.slice(-4000)}`);
      }
    },
    async kill() {
      if (exit) return exit;
      child.kill('SIGKILL');
      return exited;
    },
  };
  running.add(handle);
  return handle;
}

/** SIGKILLs every child a test file started and has not stopped (run after each file). */
export async function killSpawned(): Promise<void> {
  await Promise.all([...running].map((p) => p.kill()));
}

/**
 * Waits until `url`/health/ready answers 200. With `proc`, fails at once (with its output) if that
 * process exits first.
 */
export async function waitReady(url: string, opts: { proc?: SpawnedRole; timeoutMs?: number } = {}): Promise<void> {
  const proc = opts.proc;
  const what = `${url}/health/ready to answer 200${proc ? ` (${proc.label})` : ''}`;
  try {
    const state = await waitFor(
      async () => (proc?.exit ? 'exited' : (await http('GET', `${url}/health/ready`)).status),
      what,
      { timeoutMs: opts.timeoutMs ?? START_TIMEOUT_MS, intervalMs: 100, until: (s) => s === 200 || s === 'exited' },
    );
    if (state === 'exited') throw new Error(`${proc!.label} exited ${JSON.stringify(proc!.exit)} before ${what}`);
  } catch (err) {
    throw proc ? new Error(`${(err as Error).message}; output:\n${proc.output().slice(-4000)}`) : err;
  }
}

/**
 * Runs a command to completion: resolves with its output, rejects (with code, stdout, stderr) on a
 * non-zero exit. Written out instead of promisify(execFile): wechaty-puppet-service's typings
 * re-declare util.promisify, which loses execFile's (file, args, options) overload once imported.
 */
export function runCommand(
  file: string,
  args: string[],
  options: { cwd?: string; timeout?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { ...options, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(Object.assign(error, { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
  });
}
