import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTour } from '../../src/demo/tour';
import { ROLES } from '../../src/main';
import { http } from '../helpers/http';
import { freePort } from '../helpers/ports';
import { waitFor } from '../helpers/wait';
import { startVictoria, type Victoria } from '../metrics/victoria';
import { startS3, type S3Peer } from '../storage/s3';
import {
  ROOT,
  appServices,
  commandArgs,
  containerPorts,
  databaseService,
  loadCompose,
  publishedPorts,
  resolvedEnvironment,
  throwawaySecrets,
  toLocalEnvironment,
  type LocalEndpoints,
} from './compose';
import { commandOf, replayDockerfile, runCollect, type ReplayedImage } from './dockerfile';
import { startMariadb, startRedis, type LocalMariadb, type LocalServer } from './local-servers';
import { unresolvedRequires } from './require-graph';

/**
 * The Docker image and docker-compose.yml, replayed without a Docker engine, once per suite run:
 * the Dockerfile's stages are rebuilt step by step in a temporary directory (its COPY lines, its `npm ci`,
 * build and `npm prune --omit=dev`), compose's infrastructure is stood in for by private servers started
 * with compose's options, and every app service of compose runs from the pruned tree the way the container
 * would: its command (or the image's CMD), the image's ENV under its compose environment (service host
 * names mapped to local ports), and an unprivileged user. New roles and new build steps are followed
 * without edits here: the services come from compose, the steps from the Dockerfile.
 */
// A few minutes on a quiet 2-core machine (npm ci ~1 min CPU, build ~1 min); far longer when it is shared.
jest.setTimeout(45 * 60_000);

const compose = loadCompose();
const db = databaseService(compose);
const APP = appServices(compose);
/** Services others wait for to complete (compose's `service_completed_successfully`): run to the end first. */
const ONE_SHOT = APP.filter((name) => Object.values(compose.services).some((s) => s.depends_on?.[name]?.condition === 'service_completed_successfully'));
const LONG_RUNNING = APP.filter((name) => !ONE_SHOT.includes(name));
/** `nobody` stands in for the image's unprivileged user when the suite runs as root. */
const RUN_AS = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;
/** s3rver's fixed credentials, given to compose the way an operator gives MINIO_ROOT_USER/PASSWORD. */
const GIVEN = { ...throwawaySecrets(), MINIO_ROOT_USER: 'S3RVER', MINIO_ROOT_PASSWORD: 'S3RVER' };

interface LogLine {
  level: number;
  msg: string;
  roles?: string[];
  [k: string]: unknown;
}

interface RunningService {
  name: string;
  child: ChildProcess;
  env: Record<string, string>;
  lines: LogLine[];
  notJson: string[];
  output(): string;
  started: Promise<LogLine>;
  exited: Promise<number | null>;
}

let work: string;
let image: ReplayedImage;
let appDir: string;
let mariadb: LocalMariadb | undefined;
const servers: LocalServer[] = [];
let victoria: Victoria | undefined;
let s3: S3Peer | undefined;
let endpoints: LocalEndpoints;
const oneShotResults: Record<string, { code: number | null; output: string }> = {};
const running: Record<string, RunningService> = {};
const timings: Record<string, number> = {};

function argvOf(name: string): string[] {
  const svc = compose.services[name];
  const cmd = svc.command !== undefined ? (Array.isArray(svc.command) ? { exec: true, argv: svc.command.map(String) } : commandOf(svc.command)) : image.cmd;
  if (!cmd) throw new Error(`service ${name}: no command and the image has no CMD`);
  return image.entrypoint ? [...image.entrypoint.argv, ...cmd.argv] : cmd.argv;
}

/** The process environment of a service's container: the image's ENV, then compose's, mapped to local ports. */
function containerEnv(name: string): Record<string, string> {
  const env = toLocalEnvironment(name, resolvedEnvironment(compose.services[name], GIVEN), endpoints, Object.keys(compose.services));
  return { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: '/nonexistent', HOSTNAME: name, ...image.env, ...env };
}

function startService(name: string, env = containerEnv(name), argv = argvOf(name)): RunningService {
  const child = spawn(argv[0], argv.slice(1), { cwd: appDir, env, uid: RUN_AS?.uid, gid: RUN_AS?.gid, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: LogLine[] = [];
  const notJson: string[] = [];
  let all = '';
  let partial = '';
  let onStarted: (l: LogLine) => void = () => undefined;
  const started = new Promise<LogLine>((resolve) => (onStarted = resolve));
  child.stdout!.on('data', (d: Buffer) => {
    all = (all + d.toString()).slice(-30_000);
    const chunks = (partial + d.toString()).split('\n');
    partial = chunks.pop()!;
    for (const text of chunks.filter(Boolean)) {
      try {
        const line = JSON.parse(text) as LogLine;
        lines.push(line);
        if (line.msg === 'service started') onStarted(line);
      } catch {
        notJson.push(text);
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (all = (all + d.toString()).slice(-30_000)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const output = () => all;
  const startedOrFailed = Promise.race([
    started,
    exited.then((code) => Promise.reject(new Error(`service ${name} exited (${code}) during start-up:\n${output().slice(-4000)}`))),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`service ${name} did not start in 120 s:\n${output().slice(-4000)}`)), 120_000).unref()),
  ]);
  startedOrFailed.catch(() => undefined);
  return { name, child, env, lines, notJson, output, started: startedOrFailed, exited };
}

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t = Date.now();
  try {
    return await fn();
  } finally {
    timings[label] = Date.now() - t;
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'wwp-replay-'));
  chmodSync(work, 0o755);
  image = await timed('image build', () =>
    replayDockerfile({
      context: ROOT,
      workDir: join(work, 'image'),
      // From the npm cache when it has the lock's tarballs (same bytes: npm checks each integrity).
      runEnv: { npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' },
      chownTo: RUN_AS,
    }),
  );
  appDir = join(image.root, image.workdir);

  await timed('infrastructure', async () => {
    mariadb = await startMariadb(join(work, 'mariadb'), commandArgs(db.service));
    // What the image's entrypoint does on a fresh volume with MARIADB_DATABASE/USER/PASSWORD.
    const dbEnv = resolvedEnvironment(db.service, GIVEN);
    const root = await mariadb.root();
    await root.query(
      `CREATE DATABASE IF NOT EXISTS \`${dbEnv.MARIADB_DATABASE}\`; CREATE USER ?@'%' IDENTIFIED BY ?; GRANT ALL ON \`${dbEnv.MARIADB_DATABASE}\`.* TO ?@'%';`,
      [dbEnv.MARIADB_USER, dbEnv.MARIADB_PASSWORD, dbEnv.MARIADB_USER],
    );
    await root.end();
    const redis = await startRedis(join(work, 'redis'), commandArgs(compose.services.redis));
    servers.push(redis);
    victoria = await startVictoria();
    s3 = await startS3();
    endpoints = {
      services: {
        [db.name]: { 3306: mariadb.port },
        redis: { 6379: redis.port },
        influxdb: { 8086: Number(new URL(victoria.url).port) },
        minio: { 9000: s3.port },
      },
      published: {},
    };
    for (const name of APP) {
      for (const port of containerPorts(compose.services[name])) (endpoints.services[name] ??= {})[port] = await freePort();
      for (const p of publishedPorts(compose.services[name])) endpoints.published[p.host] = endpoints.services[name][p.container];
    }
  });

  await timed('one-shot services', async () => {
    for (const name of ONE_SHOT) {
      const argv = argvOf(name);
      oneShotResults[name] = await runCollect(argv, { cwd: appDir, env: containerEnv(name), uid: RUN_AS?.uid, gid: RUN_AS?.gid });
      if (oneShotResults[name].code !== 0) throw new Error(`one-shot service ${name} (${argv.join(' ')}) exited ${oneShotResults[name].code}:\n${oneShotResults[name].output.slice(-4000)}`);
    }
  });

  await timed('services started', async () => {
    for (const name of LONG_RUNNING) running[name] = startService(name);
    await Promise.all(LONG_RUNNING.map((name) => running[name].started));
  });
});

afterAll(async () => {
  for (const s of Object.values(running)) if (s.child.exitCode === null) s.child.kill('SIGKILL');
  await Promise.all(Object.values(running).map((s) => s.exited));
  await mariadb?.stop();
  for (const s of servers) await s.stop();
  await victoria?.stop();
  await s3?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
  // Figures for whoever reads the run (npm test prints them): where the replay's time goes.
  const steps = image?.steps.map((s) => `${s.run}: ${(s.ms / 1000).toFixed(1)} s`).join('; ');
  process.stdout.write(`[docker-replay] ${Object.entries(timings).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`).join(', ')}${steps ? ` (${steps})` : ''}\n`);
});

const apiUrl = () => `http://127.0.0.1:${running.api.env.PORT}`;

/**
 * Tests run in a random order (npm test --randomize), so the docker-stop test may come before the others:
 * each test first starts again, as compose would, any long-running service that is no longer running.
 */
beforeEach(async () => {
  const stopped = LONG_RUNNING.filter((name) => running[name] && (running[name].child.exitCode !== null || running[name].child.signalCode !== null));
  for (const name of stopped) running[name] = startService(name);
  await Promise.all(stopped.map((name) => running[name].started));
});

describe('the image', () => {
  test('runs as a non-root user, and the replayed services did too', () => {
    expect(image.user).toBeDefined();
    expect(['root', '0']).not.toContain(image.user!.split(':')[0]);
    for (const s of Object.values(running)) {
      const uid = readFileSync(`/proc/${s.child.pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)![1];
      expect({ service: s.name, uid: Number(uid) === 0 ? 'root' : 'unprivileged' }).toEqual({ service: s.name, uid: 'unprivileged' });
    }
  });

  test('CMD is exec form (node is PID 1 and receives SIGTERM) and every role service runs exactly its ROLE', async () => {
    expect(image.cmd?.exec).toBe(true);
    expect(image.env.NODE_ENV).toBe('production');
    const deployed = new Set<string>();
    for (const name of LONG_RUNNING) {
      const line = await running[name].started;
      expect({ service: name, env: line.env }).toEqual({ service: name, env: 'production' });
      if (compose.services[name].command === undefined) {
        const wanted = (running[name].env.ROLE ?? '').split(',').map((r) => r.trim());
        expect({ service: name, roles: line.roles }).toEqual({ service: name, roles: wanted });
        for (const r of wanted) deployed.add(r);
      }
    }
    // Every role the entry point knows is deployed by some compose service.
    expect(ROLES.filter((r) => !deployed.has(r))).toEqual([]);
  });

  test('without its deployment settings the image refuses to start in production, naming the variable', async () => {
    const result = await runCollect(image.cmd!.argv, { cwd: appDir, env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', ...image.env }, uid: RUN_AS?.uid, gid: RUN_AS?.gid });
    expect(result.code).toBe(78);
    expect(result.output).toMatch(/invalid configuration: \w+: must be set in production/);
  });

  test('no dev dependency is left, and no production entry point requires one (even lazily)', () => {
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([path, p]) => path.startsWith('node_modules/') && p.dev).map(([path]) => path);
    expect(devOnly).toContain('node_modules/pino-pretty');
    expect(devOnly.filter((path) => existsSync(join(appDir, path)))).toEqual([]);

    const entries = new Set<string>();
    for (const name of APP) for (const arg of argvOf(name)) if (/\.js$/.test(arg)) entries.add(join(appDir, arg));
    expect(entries.size).toBeGreaterThan(0);
    const graph = unresolvedRequires(appDir, [...entries]);
    expect(graph.visited).toBeGreaterThan(50);
    expect(graph.missing).toEqual([]);
  });

  test('native addons compiled during npm ci have a toolchain in the build stage', () => {
    const compiled: string[] = [];
    const walk = (dir: string, depth: number) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (!entry.isDirectory() || entry.isSymbolicLink()) continue;
        const path = join(dir, entry.name);
        if (entry.name === 'build' && existsSync(join(path, 'Release'))) compiled.push(path);
        else if (depth < 3) walk(path, depth + 1);
      }
    };
    walk(join(appDir, 'node_modules'), 0);
    const installed = Object.values(image.packages).flat();
    if (compiled.length) expect({ compiled: compiled.length > 0, toolchain: ['python3', 'make', 'g++'].filter((p) => !installed.includes(p)) }).toEqual({ compiled: true, toolchain: [] });
  });

  test('the one-shot migration ran against the compose database', () => {
    for (const name of ONE_SHOT) expect(oneShotResults[name].code).toBe(0);
    expect(ONE_SHOT).toContain('migrate');
    expect(oneShotResults.migrate.output).toMatch(/\[migrate\] applied/);
  });
});

describe('the services, started as compose starts them', () => {
  test('logs are JSON lines in production', () => {
    for (const s of Object.values(running)) {
      expect({ service: s.name, notJson: s.notJson }).toEqual({ service: s.name, notJson: [] });
      expect(s.lines.length).toBeGreaterThan(0);
      for (const line of s.lines) expect(line).toEqual(expect.objectContaining({ level: expect.any(Number), msg: expect.any(String), time: expect.any(Number) }));
    }
  });

  // The tenant the login and batch-send tests use, made once by whichever runs first (jest --randomize).
  let replayTenant: Promise<{ platformLogin: number; tenantCreated: number }> | undefined;
  const createReplayTenant = () =>
    (replayTenant ??= (async () => {
      const env = running.api.env;
      const platform = await http('POST', `${apiUrl()}/api/v1/platform/login`, { body: { username: env.PLATFORM_ADMIN_USERNAME, password: env.PLATFORM_ADMIN_PASSWORD } });
      const tenant = await http('POST', `${apiUrl()}/api/v1/platform/tenants`, {
        token: platform.body.access_token,
        body: { tenant_code: 'replay', tenant_name: 'Replay', plan: 'pro', max_accounts: 5, max_daily_messages: 1000, admin: { username: 'admin', email: 'admin@replay.test', password: 'replay-admin-pass' } },
      });
      return { platformLogin: platform.status, tenantCreated: tenant.status };
    })());

  test('the API is ready, and the platform admin and a tenant admin log in', async () => {
    const ready = await http('GET', `${apiUrl()}/health/ready`);
    expect(ready).toMatchObject({ status: 200, body: { status: 'ok' } });

    expect(await createReplayTenant()).toEqual({ platformLogin: 200, tenantCreated: 201 });
    const login = await http('POST', `${apiUrl()}/api/v1/auth/login`, { body: { tenant_code: 'replay', username: 'admin', password: 'replay-admin-pass' } });
    expect(login.status).toBe(200);
    expect(login.body.access_token).toEqual(expect.any(String));
  });

  test('the API serves its documents from the pruned tree', async () => {
    // Pages whose files the image must carry, the web console's built files among them.
    for (const path of ['/openapi.json', '/docs/', '/console/']) {
      const res = await http('GET', `${apiUrl()}${path}`);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
    }
  });

  test('a batch send goes through the separate api, worker and simulator processes', async () => {
    expect(await createReplayTenant()).toEqual({ platformLogin: 200, tenantCreated: 201 });
    const narrative: string[] = [];
    const result = await runTour({ baseUrl: apiUrl(), tenantCode: 'replay', username: 'admin', password: 'replay-admin-pass', ratePerMinute: 120, stepTimeoutMs: 60_000, log: (l) => narrative.push(l) }).catch((err: Error) => {
      throw new Error(`${err.message}\n--- tour ---\n${narrative.join('\n')}\n--- worker ---\n${running.worker?.output().slice(-3000)}`);
    });
    expect(result.accountStatuses).toContain('online');
    expect(result.task).toMatchObject({ status: 'completed', failed_count: 0 });
    expect(result.task.total_count).toBeGreaterThan(0);
    expect(result.messageCounts).toEqual({ delivered: result.task.total_count });
  });

  test('the cron process runs its jobs against the database and reports them to the metrics store', async () => {
    const cron = running.cron;
    const root = await mariadb!.root();
    try {
      const dbName = resolvedEnvironment(db.service, GIVEN).MARIADB_DATABASE;
      // callback-sweeper ticks every 15 s, account-watchdog every 30 s.
      const runs = await waitFor(
        async () => {
          const [rows] = (await root.query(`SELECT job_name FROM \`${dbName}\`.cron_job_runs WHERE outcome = 'success' AND host LIKE ?`, [`%:${cron.child.pid}`])) as unknown as [Array<{ job_name: string }>];
          return rows.length ? rows : undefined;
        },
        'a successful cron run by the cron process',
        { timeoutMs: 45_000, intervalMs: 250 },
      );
      expect(runs.length).toBeGreaterThan(0);
    } finally {
      await root.end();
    }
    const series = await waitFor(async () => ((await victoria!.exportSeries('{__name__=~"cron_run.*"}')).length ? true : undefined), 'cron_run metrics in the InfluxDB stand-in', { timeoutMs: 15_000, intervalMs: 250 });
    expect(series).toBe(true);
  });

  test('docker stop: SIGTERM stops every service with exit code 0', async () => {
    const codes = await Promise.all(
      Object.values(running).map(async (s) => {
        s.child.kill('SIGTERM');
        return { service: s.name, code: await s.exited };
      }),
    );
    expect(codes).toEqual(Object.keys(running).map((service) => ({ service, code: 0 })));
  });
});
