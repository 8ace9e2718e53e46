import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';

/**
 * A replay of a Dockerfile without a Docker engine: every stage gets a directory standing for its root
 * file system; COPY copies from the build context (honouring .dockerignore) or from an earlier stage,
 * RUN runs in the stage's WORKDIR with the stage's ENV, and the last stage's ENV, USER and CMD describe
 * how the image starts. An instruction the replay cannot follow is an error, never skipped silently.
 */
export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let line = lines[i];
    if (/^\s*(#|$)/.test(line)) continue;
    // Continuation lines (a trailing backslash); comment lines inside a continuation are dropped, as Docker does.
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      line = line.replace(/\\\s*$/, ' ');
      i++;
      if (!/^\s*#/.test(lines[i])) line += lines[i];
    }
    const m = line.trim().match(/^(\w+)\s+(.*)$/s);
    if (!m) throw new Error(`Dockerfile line ${start}: cannot parse "${line.trim()}"`);
    const keyword = m[1].toUpperCase();
    const args = m[2].trim();
    if (keyword === 'FROM') {
      const from = args.match(/^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i);
      if (!from) throw new Error(`Dockerfile line ${start}: cannot parse FROM ${args}`);
      stages.push({ from: from[1], name: from[2], instructions: [] });
    } else {
      if (!stages.length) {
        if (keyword === 'ARG') continue;
        throw new Error(`Dockerfile line ${start}: ${keyword} before FROM`);
      }
      stages[stages.length - 1].instructions.push({ keyword, args, line: start });
    }
  }
  return stages;
}

/** Exec form (a JSON array) or shell form, as Docker reads RUN, CMD and ENTRYPOINT. */
export function commandOf(args: string): { exec: boolean; argv: string[] } {
  if (args.startsWith('[')) return { exec: true, argv: JSON.parse(args) as string[] };
  return { exec: false, argv: ['/bin/sh', '-c', args] };
}

/** `--flag=value` options before the arguments (COPY --from=build --chown=node …). */
function splitFlags(args: string): { flags: Record<string, string>; rest: string[] } {
  const words = args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/);
  const flags: Record<string, string> = {};
  while (words.length && words[0].startsWith('--')) {
    const [k, ...v] = words.shift()!.slice(2).split('=');
    flags[k] = v.join('=');
  }
  return { flags, rest: words };
}

/** .dockerignore patterns (Go filepath.Match syntax plus `**`, `!` re-includes), relative to the context. */
export function dockerignoreMatcher(text: string): (relPath: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, ''));
      const source = pattern
        .split('')
        .map((c, i, all) => {
          if (c === '*') return all[i + 1] === '*' ? '' : all[i - 1] === '*' ? '.*' : '[^/]*';
          if (c === '?') return '[^/]';
          return /[.+^${}()|[\]\\]/.test(c) ? `\\${c}` : c;
        })
        .join('');
      return { negate, re: new RegExp(`^${source}(/.*)?$`) };
    });
  return (relPath) => {
    let ignored = false;
    for (const r of rules) if (r.re.test(relPath)) ignored = !r.negate;
    return ignored;
  };
}

export interface ReplayedImage {
  /** The final stage's root file system; `workdir` inside it is where the CMD runs. */
  root: string;
  workdir: string;
  env: Record<string, string>;
  user: string | undefined;
  cmd: { exec: boolean; argv: string[] } | undefined;
  entrypoint: { exec: boolean; argv: string[] } | undefined;
  exposed: string[];
  /** What each RUN step took, for the report. */
  steps: Array<{ stage: number; run: string; ms: number }>;
  /** Debian packages each stage installs (apt-get steps, checked against this machine, not run). */
  packages: Record<number, string[]>;
}

export interface ReplayOptions {
  context: string;
  dockerfile?: string;
  /** Empty directory that receives one sub-directory per stage. */
  workDir: string;
  /** Extra environment for RUN steps (on top of PATH and HOME), e.g. npm cache settings. */
  runEnv?: Record<string, string>;
  /** uid/gid that files COPY --chown'ed to a user get (the replay's stand-in for that user). */
  chownTo?: { uid: number; gid: number };
  /** Run RUN steps at this `nice` level: a build in the background of other tests must not starve them. */
  nice?: number;
  log?: (line: string) => void;
}

export async function replayDockerfile(opts: ReplayOptions): Promise<ReplayedImage> {
  const dockerfile = opts.dockerfile ?? join(opts.context, 'Dockerfile');
  const stages = parseDockerfile(readFileSync(dockerfile, 'utf8'));
  const ignorePath = join(opts.context, '.dockerignore');
  const ignored = existsSync(ignorePath) ? dockerignoreMatcher(readFileSync(ignorePath, 'utf8')) : () => false;
  const roots: string[] = [];
  const steps: ReplayedImage['steps'] = [];
  const packagesByStage: ReplayedImage['packages'] = {};
  let image: ReplayedImage | undefined;

  for (const [index, stage] of stages.entries()) {
    const root = join(opts.workDir, `stage${index}`);
    mkdirSync(root, { recursive: true });
    chmodSync(root, 0o755);
    roots.push(root);
    const base = stage.from.match(/^(\S+?)(?::|@|$)/)![1];
    const from = stages.findIndex((s, i) => i < index && s.name === stage.from);
    if (from >= 0) cpSync(roots[from], root, { recursive: true, verbatimSymlinks: true });
    else if (!/^(docker\.io\/)?(library\/)?node$/.test(base)) throw new Error(`replay: base image ${stage.from} is not a Node.js image; the replay stands in for node images only`);
    else {
      // The replay runs this machine's Node.js in place of the image's: they must be the same major version.
      const major = stage.from.match(/:(\d+)/)?.[1];
      if (major !== process.versions.node.split('.')[0]) throw new Error(`replay: ${stage.from} is not Node.js ${process.versions.node.split('.')[0]}, the version replaying it`);
    }
    let workdir = '/';
    const env: Record<string, string> = {};
    const args: Record<string, string> = {};
    let user: string | undefined;
    let cmd: ReplayedImage['cmd'];
    let entrypoint: ReplayedImage['entrypoint'];
    const exposed: string[] = [];
    const inStage = (containerPath: string) => join(root, posix.resolve(workdir, containerPath));

    for (const ins of stage.instructions) {
      const where = `Dockerfile line ${ins.line} (${ins.keyword})`;
      switch (ins.keyword) {
        case 'WORKDIR':
          workdir = posix.resolve(workdir, ins.args);
          mkdirSync(inStage('.'), { recursive: true });
          break;
        case 'ENV':
        case 'ARG': {
          const target = ins.keyword === 'ENV' ? env : args;
          const pairs = /^\S+=/.test(ins.args) ? [...ins.args.matchAll(/(\w+)=("[^"]*"|\S*)/g)].map((m) => [m[1], m[2].replace(/^"|"$/g, '')]) : [ins.args.split(/\s+(.*)/s).slice(0, 2)];
          for (const [k, v] of pairs) target[k] = v ?? '';
          break;
        }
        case 'COPY':
        case 'ADD': {
          const { flags, rest } = splitFlags(ins.args);
          if (ins.keyword === 'ADD' && rest.some((s) => /^https?:/.test(s))) throw new Error(`${where}: remote ADD is not replayed`);
          const dest = rest.pop()!;
          if (!rest.length) throw new Error(`${where}: no source`);
          const toDir = dest.endsWith('/') || rest.length > 1;
          for (const src of rest) {
            if (/[*?[]/.test(src)) throw new Error(`${where}: wildcards are not replayed yet (${src})`);
            let from: string;
            if (flags.from !== undefined) {
              const stageIndex = stages.findIndex((s, i) => i < index && (s.name === flags.from || String(i) === flags.from));
              if (stageIndex < 0) throw new Error(`${where}: unknown stage ${flags.from}`);
              from = join(roots[stageIndex], posix.resolve('/', src));
            } else {
              const rel = posix.normalize(src).replace(/^\/+/, '');
              if (rel.startsWith('..')) throw new Error(`${where}: ${src} is outside the build context`);
              if (ignored(rel)) throw new Error(`${where}: ${src} is excluded by .dockerignore`);
              from = join(opts.context, rel);
            }
            if (!existsSync(from)) throw new Error(`${where}: ${src} not found${flags.from !== undefined ? ` in stage ${flags.from}` : ' in the build context'}`);
            const isDir = statSync(from).isDirectory();
            const target = isDir ? inStage(dest) : toDir ? join(inStage(dest), posix.basename(src)) : inStage(dest);
            mkdirSync(isDir ? target : dirname(target), { recursive: true });
            if (flags.from !== undefined) {
              // Between stages: hard links (same bytes, no copy of node_modules' hundreds of MB).
              const r = spawnSync('cp', ['-al', isDir ? `${from}/.` : from, target]);
              if (r.status !== 0) throw new Error(`${where}: cp failed: ${r.stderr}`);
            } else {
              cpSync(from, target, {
                recursive: true,
                verbatimSymlinks: true,
                filter: (p) => !ignored(relative(opts.context, p).split('\\').join('/')),
              });
            }
            if (flags.chown !== undefined && opts.chownTo) spawnSync('chown', ['-R', `${opts.chownTo.uid}:${opts.chownTo.gid}`, target]);
          }
          break;
        }
        case 'RUN': {
          const { flags, rest } = splitFlags(ins.args);
          if (Object.keys(flags).length) throw new Error(`${where}: RUN flags are not replayed (${Object.keys(flags).join(', ')})`);
          const command = commandOf(ins.args.startsWith('[') ? ins.args : rest.join(' '));
          const packages = command.exec ? undefined : debianPackagesStep(command.argv[2]);
          if (packages) {
            // Installs into the image's system: not run on this machine (it is the host), but the packages
            // must be what this machine has, so the rest of the replay sees what the image would.
            const missing = packages.filter((p) => !debianPackageInstalled(p));
            if (missing.length) throw new Error(`${where}: the image installs ${missing.join(', ')}, which this machine lacks (apt-get install -y ${missing.join(' ')})`);
            steps.push({ stage: index, run: `(checked installed: ${packages.join(' ')})`, ms: 0 });
            (packagesByStage[index] ??= []).push(...packages);
            break;
          }
          const started = Date.now();
          opts.log?.(`[replay] stage ${index} RUN ${command.argv.join(' ')}`);
          const runEnv = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...args, ...env, ...opts.runEnv };
          const argv = opts.nice ? ['nice', '-n', String(opts.nice), ...command.argv] : command.argv;
          const result = await runCollect(argv, { cwd: inStage('.'), env: runEnv });
          steps.push({ stage: index, run: command.argv.slice(command.exec ? 0 : 2).join(' '), ms: Date.now() - started });
          if (result.code !== 0) throw new Error(`${where}: "${command.argv.join(' ')}" exited ${result.code}\n${result.output.slice(-4000)}`);
          break;
        }
        case 'USER':
          user = ins.args;
          break;
        case 'CMD':
          cmd = commandOf(ins.args);
          break;
        case 'ENTRYPOINT':
          entrypoint = commandOf(ins.args);
          break;
        case 'EXPOSE':
          exposed.push(...ins.args.split(/\s+/));
          break;
        case 'LABEL':
        case 'HEALTHCHECK':
        case 'STOPSIGNAL':
          break;
        default:
          throw new Error(`${where}: the replay does not follow ${ins.keyword}; teach test/deploy/dockerfile.ts`);
      }
    }
    image = { root, workdir, env, user, cmd, entrypoint, exposed, steps, packages: packagesByStage };
  }
  if (!image) throw new Error('Dockerfile has no stage');
  return image;
}

/**
 * A RUN that only installs Debian packages (apt-get update/install, clearing the apt lists), returning
 * the packages; undefined for any other command.
 */
export function debianPackagesStep(script: string): string[] | undefined {
  const parts = script.split(/&&|;/).map((p) => p.trim()).filter(Boolean);
  const packages: string[] = [];
  for (const part of parts) {
    if (/^(DEBIAN_FRONTEND=\S+\s+)?apt-get\s+(-\S+\s+)*update(\s+-\S+)*$/.test(part)) continue;
    if (/^rm\s+-rf\s+\/var\/lib\/apt\/lists\/\*$/.test(part)) continue;
    const install = part.match(/^(?:DEBIAN_FRONTEND=\S+\s+)?apt-get\s+install\s+(.*)$/);
    if (!install) return undefined;
    packages.push(...install[1].split(/\s+/).filter((w) => w && !w.startsWith('-')));
  }
  return packages.length ? packages : undefined;
}

function debianPackageInstalled(name: string): boolean {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', name.replace(/=.*$/, '')], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

/** Runs a command, collecting stdout and stderr together (for the failure message). */
export function runCollect(argv: string[], opts: { cwd: string; env: Record<string, string>; uid?: number; gid?: number }): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: opts.cwd, env: opts.env, uid: opts.uid, gid: opts.gid, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (d: Buffer) => {
      output = (output + d.toString()).slice(-200_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}
