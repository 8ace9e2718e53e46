import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { Router } from 'express';

/**
 * Serves the operator console (built by scripts/build-console.sh into dist/console) at /console.
 * Assets carry a content hash in their names, so they are cached for a year; index.html is never
 * cached, so a deploy reaches every browser on its next load. Every deep link (/console/tasks/…) gets
 * index.html and the client router takes over. The policy forbids inline and foreign scripts; inline
 * styles stay allowed because Ant Design writes its styles at run time.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' blob: data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** dist/console next to the compiled server (dist/src/api → dist/console), or under the repo from sources. */
export function consoleDir(): string | undefined {
  const candidates = [join(__dirname, '..', '..', 'console'), join(__dirname, '..', '..', 'dist', 'console')];
  return candidates.find((dir) => existsSync(join(dir, 'index.html')));
}

/** `dir` null: no console built (the routes answer 503 instead). */
export function consoleRouter(dir: string | null = consoleDir() ?? null): Router {
  const router = Router();
  router.get('/', (_req, res) => res.redirect(302, '/console/'));
  router.use('/console', (_req, res, next) => {
    res.setHeader('Content-Security-Policy', CONSOLE_CSP);
    next();
  });
  if (!dir) {
    router.use('/console', (_req, res) => {
      res.status(503).json({ error: { code: 'console_not_built', message: 'the console is not built: run `npm run build`' } });
    });
    return router;
  }
  router.use(
    '/console/assets',
    express.static(join(dir, 'assets'), { immutable: true, maxAge: '365d', index: false }),
    // A missing asset is a 404, never index.html (a stale page asking for an old chunk must see it fail).
    (_req, res) => void res.status(404).json({ error: { code: 'not_found', message: 'no such console asset' } }),
  );
  const index = join(dir, 'index.html');
  router.get(/^\/console(\/.*)?$/, (req, res) => {
    if (req.path === '/console') return res.redirect(301, '/console/');
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
  return router;
}
