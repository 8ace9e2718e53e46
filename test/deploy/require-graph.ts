import { readFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { relative } from 'node:path';

export interface MissingModule {
  /** The file (relative to the app directory) holding the require. */
  from: string;
  request: string;
}

/**
 * Walks the `require` graph of compiled CommonJS from `entries`, through the app's own files (not into
 * node_modules, whose own dependencies npm resolved), and returns every request that does not resolve
 * from where it is made. It sees requires that only run later (inside functions, `await import()`
 * compiled to `require`), which starting the process would not.
 */
export function unresolvedRequires(appDir: string, entries: string[]): { missing: MissingModule[]; visited: number } {
  const seen = new Set<string>();
  const missing: MissingModule[] = [];
  const queue = [...entries];
  while (queue.length) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    const resolver = createRequire(file);
    for (const m of source.matchAll(/\brequire\(\s*(['"`])([^'"`]+)\1\s*\)/g)) {
      const request = m[2];
      if (isBuiltin(request)) continue;
      let resolved: string;
      try {
        resolved = resolver.resolve(request);
      } catch {
        missing.push({ from: relative(appDir, file), request });
        continue;
      }
      const inApp = !relative(appDir, resolved).startsWith('..') && !resolved.includes('/node_modules/');
      if (inApp && resolved.endsWith('.js')) queue.push(resolved);
    }
  }
  return { missing, visited: seen.size };
}
