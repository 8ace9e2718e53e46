import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../helpers/processes';

const run = runCommand;
const root = join(__dirname, '..', '..');

/**
 * The Dockerfile and the setup scripts install with `npm ci`, which refuses a lock file that is out of
 * sync with package.json (for example one missing optional platform packages). A dry run in an empty
 * directory checks exactly that without touching node_modules.
 */
test('npm ci accepts package-lock.json', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wwp-lock-'));
  try {
    copyFileSync(join(root, 'package.json'), join(dir, 'package.json'));
    copyFileSync(join(root, 'package-lock.json'), join(dir, 'package-lock.json'));
    const result = await run('npm', ['ci', '--dry-run', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: dir, timeout: 120_000 })
      .then(() => ({ code: 0, stderr: '' }))
      .catch((err: { code?: number; stderr?: string }) => ({ code: err.code ?? 1, stderr: err.stderr ?? '' }));
    expect(result.stderr.split('\n').filter((line) => line.includes('npm error')).join('\n')).toBe('');
    expect(result.code).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 150_000);
