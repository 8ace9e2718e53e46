import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toLocalEnvironment, type LocalEndpoints } from './compose';
import { debianPackagesStep, dockerignoreMatcher, parseDockerfile, replayDockerfile } from './dockerfile';
import { unresolvedRequires } from './require-graph';

/**
 * The pieces of the Docker replay (docker-replay.test.ts) on small inputs, so each of its checks is
 * shown to fail when it should: a COPY of something missing, a dev dependency required lazily, a compose
 * host name the replay cannot map. (A forgotten file failing the start: replay-start.test.ts.)
 */
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'wwp-replay-unit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const write = (path: string, text: string) => {
  mkdirSync(join(dir, path, '..'), { recursive: true });
  writeFileSync(join(dir, path), text);
};

test('parses stages, continuation lines and instructions', () => {
  const stages = parseDockerfile('FROM node:20 AS build\n# comment\nRUN a \\\n  && b\nFROM node:20-slim\nCOPY --from=build /app/x ./\nCMD ["node", "x.js"]\n');
  expect(stages.map((s) => [s.from, s.name])).toEqual([
    ['node:20', 'build'],
    ['node:20-slim', undefined],
  ]);
  expect(stages[0].instructions[0]).toMatchObject({ keyword: 'RUN', line: 3 });
  expect(stages[0].instructions[0].args.replace(/\s+/g, ' ')).toBe('a && b');
  expect(stages[1].instructions.map((i) => i.keyword)).toEqual(['COPY', 'CMD']);
});

test('.dockerignore: names, globs, directories and re-includes', () => {
  const ignored = dockerignoreMatcher('node_modules\n*.log\ndocs/**/*.tmp\n!keep.log\n');
  expect(ignored('node_modules')).toBe(true);
  expect(ignored('node_modules/x/index.js')).toBe(true);
  expect(ignored('src/node_modules')).toBe(false);
  expect(ignored('a.log')).toBe(true);
  expect(ignored('keep.log')).toBe(false);
  expect(ignored('docs/a/b/c.tmp')).toBe(true);
  expect(ignored('src/main.ts')).toBe(false);
});

test('apt-get steps are recognised, anything else is run', () => {
  expect(debianPackagesStep('apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*')).toEqual(['python3', 'make', 'g++']);
  expect(debianPackagesStep('apt-get update && curl http://x | sh')).toBeUndefined();
  expect(debianPackagesStep('npm ci')).toBeUndefined();
});

test('a COPY of something missing or excluded by .dockerignore stops the replay', async () => {
  write('Dockerfile', 'FROM node:20-bookworm-slim\nWORKDIR /app\nCOPY missing.js ./\n');
  await expect(replayDockerfile({ context: dir, workDir: join(dir, 'replay') })).rejects.toThrow(/line 3 \(COPY\): missing.js not found/);
  write('Dockerfile', 'FROM node:20-bookworm-slim\nWORKDIR /app\nCOPY secret.env ./\n');
  write('secret.env', 'x');
  write('.dockerignore', '*.env\n');
  await expect(replayDockerfile({ context: dir, workDir: join(dir, 'replay2') })).rejects.toThrow(/excluded by \.dockerignore/);
});

test('an instruction the replay cannot follow is an error, not skipped', async () => {
  write('Dockerfile', 'FROM node:20-bookworm-slim\nVOLUME /data\n');
  await expect(replayDockerfile({ context: dir, workDir: join(dir, 'replay') })).rejects.toThrow(/does not follow VOLUME/);
  write('Dockerfile', 'FROM python:3.12\n');
  await expect(replayDockerfile({ context: dir, workDir: join(dir, 'replay2') })).rejects.toThrow(/not a Node\.js image/);
});

test('the require graph finds a dev dependency required lazily, deep in the app', () => {
  write('app/dist/main.js', "require('./lib/a');\nrequire('present');\n");
  write('app/dist/lib/a.js', "exports.later = () => require('pino-pretty');\nrequire('node:fs');\n");
  write('app/node_modules/present/index.js', '');
  const { missing, visited } = unresolvedRequires(join(dir, 'app'), [join(dir, 'app/dist/main.js')]);
  expect(visited).toBe(2);
  expect(missing).toEqual([{ from: 'dist/lib/a.js', request: 'pino-pretty' }]);
});

describe('compose environment mapped to local stand-ins', () => {
  const endpoints: LocalEndpoints = { services: { mariadb: { 3306: 41001 }, redis: { 6379: 41002 }, api: { 3000: 41003 }, simulator: { 3100: 41004 } }, published: { 3000: 41003 } };
  const names = ['mariadb', 'redis', 'api', 'simulator', 'worker', 'puppet'];

  test('URLs, host/port pairs, published ports and the service’s own port', () => {
    const env = toLocalEnvironment(
      'api',
      { DB_HOST: 'mariadb', DB_PORT: '3306', REDIS_URL: 'redis://redis:6379', CALLBACK_URL: 'http://api:3000/callbacks', PUBLIC_URL: 'http://localhost:3000', PORT: '3000', SIMULATOR_HOST: 'simulator', SIMULATOR_PORT: '3100', ROLE: 'api' },
      endpoints,
      names,
    );
    expect(env).toEqual({ DB_HOST: '127.0.0.1', DB_PORT: '41001', REDIS_URL: 'redis://127.0.0.1:41002', CALLBACK_URL: 'http://127.0.0.1:41003/callbacks', PUBLIC_URL: 'http://127.0.0.1:41003', PORT: '41003', SIMULATOR_HOST: '127.0.0.1', SIMULATOR_PORT: '41004', ROLE: 'api' });
  });

  test('a variable naming a service without a stand-in is an error', () => {
    expect(() => toLocalEnvironment('worker', { WECHATY_PUPPET_SERVER: 'puppet' }, endpoints, names)).toThrow(/names compose service "puppet"/);
    expect(() => toLocalEnvironment('worker', { PUPPET_URL: 'grpc://puppet:8788' }, endpoints, names)).toThrow(/names compose service "puppet"/);
  });
});
