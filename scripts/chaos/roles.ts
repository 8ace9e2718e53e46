/**
 * Service processes for fault runs: `node --import tsx src/main.ts --role <role>` (node itself with the
 * tsx loader, not the tsx CLI or npx, so a SIGKILL reaches the process that does the work and leaves no
 * grandchild behind). Output goes to a log file per process; nothing restarts a process that exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import path from 'node:path';
import { UNHANDLED_REJECTION_EVENT } from '../../src/unhandled-rejections';

export const REPO_ROOT = path.resolve(__dirname, '../..');

export interface RoleProcess {
  name: string;
  role: string;
  child: ChildProcess;
  logFile: string;
  startedAt: number;
  /** Set when the process ended (by itself or killed). */
  exit: { code: number | null; signal: NodeJS.Signals | null; at: number } | null;
  /** True when it was killed on purpose (SIGKILL by the run), not an exit of its own. */
  killed: boolean;
  kill9(): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** Log lines reporting an unhandled promise rejection (the last-resort net in src/main.ts). */
  unhandledRejections(): number;
  unhandledRejectionLines(): string[];
}

export function spawnRole(name: string, role: string, env: Record<string, string>, logDir: string): RoleProcess {
  const logFile = path.join(logDir, `${name}.log`);
  const out = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src/main.ts'), '--role', role], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(out, { end: false });
  child.stderr!.pipe(out, { end: false });
  const proc: RoleProcess = {
    name,
    role,
    child,
    logFile,
    startedAt: Date.now(),
    exit: null,
    killed: false,
    async kill9() {
      if (proc.exit) return;
      proc.killed = true;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await done;
    },
    async stop(graceMs = 10_000) {
      if (proc.exit) return;
      proc.killed = true;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await done;
      clearTimeout(t);
    },
    unhandledRejections() {
      return proc.unhandledRejectionLines().length;
    },
    unhandledRejectionLines() {
      let text = '';
      try {
        text = readFileSync(logFile, 'utf8');
      } catch {
        return [];
      }
      return text.split('\n').filter((l) => l.includes(`"event":"${UNHANDLED_REJECTION_EVENT}"`));
    },
  };
  child.once('exit', (code, signal) => {
    proc.exit = { code, signal, at: Date.now() };
    out.end();
  });
  live.add(proc);
  child.once('exit', () => live.delete(proc));
  return proc;
}

/** Resolves once the process logged a line containing `text` (e.g. 'API listening'). */
export async function waitForLog(proc: RoleProcess, text: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (proc.exit) throw new Error(`${proc.name} exited (${proc.exit.code ?? proc.exit.signal}) before logging "${text}"; see ${proc.logFile}`);
    try {
      if (readFileSync(proc.logFile, 'utf8').includes(text)) return;
    } catch {
      /* not written yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${proc.name} did not log "${text}" within ${timeoutMs} ms; see ${proc.logFile}`);
}

const live = new Set<RoleProcess>();
process.once('exit', () => {
  for (const p of live) p.child.kill('SIGKILL');
});
