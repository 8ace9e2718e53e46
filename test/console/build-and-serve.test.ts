import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import express from 'express';
import { consoleRouter } from '../../src/api/console-static';
import { createTestEnv, type TestEnv } from '../helpers/env';
import { buildConsole, runInRepo } from '../helpers/console-build';
import { http } from '../helpers/http';

const root = join(__dirname, '..', '..');
const dist = join(root, 'dist', 'console');

/** What the sign-in route may load, gzip: React, the router, i18n, the form and the session code. */
const SIGN_IN_BUDGET_GZ = 350 * 1024;

interface ManifestChunk {
  file: string;
  src?: string;
  isEntry?: boolean;
  imports?: string[];
  css?: string[];
}

let env: TestEnv;
let manifest: Record<string, ManifestChunk>;
beforeAll(async () => {
  // The same script `npm run build` and `npm start` run; it skips when the console is up to date.
  await buildConsole();
  manifest = JSON.parse(readFileSync(join(dist, '.vite', 'manifest.json'), 'utf8'));
  env = await createTestEnv('consolestatic', { api: true });
}, 320_000);
jest.setTimeout(120_000);
afterAll(() => env?.close());

/** Every JS file a chunk loads before it runs (its static imports, transitively). */
function staticClosure(key: string, seen = new Set<string>()): Set<string> {
  if (seen.has(key)) return seen;
  seen.add(key);
  for (const dep of manifest[key]?.imports ?? []) staticClosure(dep, seen);
  return seen;
}

test('the sign-in route loads under its JavaScript budget (gzip); the screens are split out of it', () => {
  const entry = Object.keys(manifest).find((k) => manifest[k].isEntry)!;
  const signIn = Object.keys(manifest).find((k) => k.endsWith('pages/SignIn.tsx'))!;
  expect(entry).toBeDefined();
  expect(signIn).toBeDefined();
  const files = new Set([...staticClosure(entry), ...staticClosure(signIn)].map((k) => manifest[k].file));
  const gz = [...files].reduce((sum, f) => sum + gzipSync(readFileSync(join(dist, f))).length, 0);
  console.log(`[console] sign-in route: ${files.size} JS files, ${(gz / 1024).toFixed(1)} KB gzip (budget ${SIGN_IN_BUDGET_GZ / 1024} KB)`);
  expect(gz).toBeLessThan(SIGN_IN_BUDGET_GZ);
  // The heavy screens are not part of it.
  for (const page of ['Dashboard', 'TaskDetail', 'NewTask', 'Templates']) {
    const key = Object.keys(manifest).find((k) => k.endsWith(`pages/${page}.tsx`))!;
    expect(files.has(manifest[key].file)).toBe(false);
  }
});

test('/console: index.html uncached with a strict CSP and no inline script; hashed assets cached a year; deep links get the app', async () => {
  const page = await http('GET', `${env.url}/console/`);
  expect(page.status).toBe(200);
  expect(page.headers['content-type']).toMatch(/text\/html/);
  expect(page.headers['cache-control']).toBe('no-cache');
  const csp = String(page.headers['content-security-policy']);
  expect(csp).toContain("script-src 'self'");
  expect(csp.match(/script-src[^;]*/)![0]).not.toMatch(/unsafe-inline|unsafe-eval/);
  expect(csp).toContain("frame-ancestors 'none'");
  const html = String(page.body);
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
  expect(scripts.length).toBeGreaterThan(0);
  for (const [, attrs, body] of scripts) {
    expect(attrs).toMatch(/src="\/console\/assets\//);
    expect(body.trim()).toBe('');
  }

  const deep = await http('GET', `${env.url}/console/tasks/0190b0b0-0000-7000-8000-000000000000`);
  expect(deep.status).toBe(200);
  expect(deep.body).toBe(page.body);

  const asset = manifest[Object.keys(manifest).find((k) => manifest[k].isEntry)!].file;
  const res = await http('GET', `${env.url}/console/${asset}`);
  expect(res.status).toBe(200);
  expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  expect((await http('GET', `${env.url}/console/assets/missing-0000.js`)).status).toBe(404);

  const rootRes = await http('GET', `${env.url}/`);
  expect(rootRes.status).toBe(302);
  expect(rootRes.headers.location).toBe('/console/');
});

test('an api role without a built console says so (503 console_not_built), it does not fail', async () => {
  const app = express().use(consoleRouter(null));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const { port } = server.address() as { port: number };
    const res = await http('GET', `http://127.0.0.1:${port}/console/`);
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('console_not_built');
  } finally {
    server.close();
  }
});

test("the console's API types are generated from the service's current OpenAPI document", async () => {
  // Fails with "stale: run `npm run console:api`" when an API change was not carried into the console.
  await expect(runInRepo('npx', ['tsx', 'scripts/gen-console-api.ts', '--check'], 120_000)).resolves.toContain('up to date');
});
