import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Development logs are readable at a terminal (pino-pretty through pino's transport); JSON lines
 * everywhere else. A real process runs under a pseudo-terminal (util-linux `script`) and into a pipe,
 * the way a person and a log shipper see it. (The decision itself: logger.unit.test.ts.)
 */
describe('a real process', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'wwp-log-'));
    // Logs, then exits at once: the shutdown path of main.ts, where a transport must still flush.
    writeFileSync(
      join(dir, 'probe.ts'),
      `import { logger } from ${JSON.stringify(join(__dirname, '..', '..', 'src', 'logger'))};\n` +
        `logger.info({ tenant: 'demo' }, 'probe line');\nprocess.exit(0);\n`,
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs the probe with NODE_ENV set, under a pseudo-terminal or into a pipe; returns what it printed. */
  function run(nodeEnv: string, tty: boolean): Promise<string> {
    const node = `${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(join(dir, 'probe.ts'))}`;
    const [cmd, args] = tty ? ['script', ['-qec', node, '/dev/null']] : ['sh', ['-c', node]];
    const env = { ...process.env, NODE_ENV: nodeEnv, LOG_LEVEL: 'info', LOG_FORMAT: 'auto' };
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { env, cwd: join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`probe exited ${code}: ${out}`))));
    });
  }

  test('development at a terminal: readable lines, not JSON', async () => {
    const out = await run('development', true);
    expect(out).toMatch(/INFO.*probe line/);
    expect(out).toContain('tenant');
    expect(out).not.toContain('{"level"');
  });

  test('development into a pipe (a file, a shipper): JSON lines', async () => {
    const out = await run('development', false);
    expect(JSON.parse(out.trim())).toMatchObject({ level: 30, msg: 'probe line', tenant: 'demo' });
  });

  test('production at a terminal: still JSON', async () => {
    const out = await run('production', true);
    expect(JSON.parse(out.trim())).toMatchObject({ level: 30, msg: 'probe line', tenant: 'demo' });
  });
});
