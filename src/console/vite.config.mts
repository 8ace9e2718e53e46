import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The operator console: built into dist/console and served by the api role at /console
 * (src/api/console-static.ts). No plugin: Vite's own transform compiles TSX with the automatic
 * runtime. Every screen is a lazy route, so the sign-in page loads only what it draws.
 */
const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/console/',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: fileURLToPath(new URL('../../dist/console', import.meta.url)),
    emptyOutDir: true,
    manifest: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
    rolldownOptions: {
      // antd's "use client" directives mean nothing outside React Server Components.
      onLog(level, log, handler) {
        if (log.code === 'MODULE_LEVEL_DIRECTIVE') return;
        handler(level, log);
      },
    },
  },
});
