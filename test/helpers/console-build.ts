import { execFile } from 'node:child_process';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');

/** Runs a command of the repository and resolves with its stdout; rejects with its stderr. */
export function runInRepo(command: string, args: string[], timeoutMs = 300_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: root, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(new Error(`${command} ${args.join(' ')} failed: ${stderr || err.message}`), { code: (err as { code?: number }).code }));
      else resolve(stdout);
    });
  });
}

/** The console build `npm run build` and `npm start` run (skipped when up to date; concurrent callers wait for each other). */
export const buildConsole = () => runInRepo('bash', ['scripts/build-console.sh']);
