import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { CONFIG_VARIABLES } from '../../src/config';

test('every configuration variable is documented in docs/configuration.md', () => {
  const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'configuration.md'), 'utf8');
  const documented = new Set([...doc.matchAll(/^\| `([A-Z0-9_]+)`/gm)].map((m) => m[1]));
  expect(CONFIG_VARIABLES.filter((v) => !documented.has(v))).toEqual([]);
  expect([...documented].filter((v) => v !== 'ROLE' && !(CONFIG_VARIABLES as string[]).includes(v))).toEqual([]);
});

test('every test the README names as proof of a claim exists', () => {
  const root = join(__dirname, '..', '..');
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.split('### Claims and the tests that prove them')[1]?.split(/\n#+ /)[0] ?? '';
  const named = [...section.matchAll(/`([^`]+\.test\.ts|test\/[^`*]*)`/g)].map((m) => m[1]);
  expect(named.length).toBeGreaterThan(20);
  const testFiles = (readdirSync(join(root, 'test'), { recursive: true }) as string[]).map((f) => f.split(sep).join('/'));
  // A bare file name stands for the one test file of that name (the table names the folder once per row).
  const missing = named.filter((n) => (n.startsWith('test/') ? !existsSync(join(root, n)) : testFiles.filter((f) => f.endsWith(`/${n}`)).length !== 1));
  expect(missing).toEqual([]);
});
