import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

/**
 * The V8 flags docker-compose.yml gives a role's processes (its NODE_OPTIONS without
 * --enable-source-maps), so a bench's child of that role runs with the heap limit a deployment runs with.
 */
export function deployedNodeFlags(role: string): string[] {
  const compose = parse(readFileSync(join(__dirname, '..', '..', 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, { environment?: Record<string, unknown> }>;
  };
  const options = String(compose.services[role]?.environment?.NODE_OPTIONS ?? '');
  return options.split(/\s+/).filter((f) => f && f !== '--enable-source-maps');
}
