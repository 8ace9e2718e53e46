import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_VARIABLES } from '../../src/config';

test('every configuration variable is documented in docs/configuration.md', () => {
  const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'configuration.md'), 'utf8');
  const documented = new Set([...doc.matchAll(/^\| `([A-Z0-9_]+)`/gm)].map((m) => m[1]));
  expect(CONFIG_VARIABLES.filter((v) => !documented.has(v))).toEqual([]);
  expect([...documented].filter((v) => v !== 'ROLE' && !(CONFIG_VARIABLES as string[]).includes(v))).toEqual([]);
});
