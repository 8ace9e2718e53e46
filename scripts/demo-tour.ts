import 'dotenv/config';
import { runTour, TourError } from '../src/demo/tour';

/**
 * `npm run demo:tour`: walks a running service (BASE_URL, default http://127.0.0.1:$PORT or :3000) through what an
 * operator does: log in as the demo admin, bring an account online, write a template, send a batch task
 * and watch it finish. Safe to run again (the account and template are reused). Exits non-zero, saying
 * which step failed, when anything does not work.
 */
async function main(): Promise<void> {
  // Same default as the service itself (PUBLIC_URL, else PORT on this machine), so a .env serves both.
  const baseUrl = process.env.BASE_URL ?? process.env.PUBLIC_URL ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`;
  console.log(`[tour] ${baseUrl}`);
  const started = Date.now();
  const result = await runTour({
    baseUrl,
    tenantCode: process.env.DEMO_TENANT ?? 'demo',
    username: process.env.DEMO_USERNAME ?? 'admin',
    password: process.env.DEMO_ADMIN_PASSWORD ?? 'demo-admin-pass',
    log: (line) => console.log(`[tour] ${line}`),
  });
  const ok = result.task.success_count === result.task.total_count;
  console.log(`[tour] done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${ok ? 'every message was sent' : 'some messages were not sent'}.`);
  if (!ok) process.exitCode = 1;
}

main().catch((err) => {
  console.error(`[tour] FAILED: ${err instanceof TourError ? err.message : (err as Error).stack ?? String(err)}`);
  process.exit(1);
});
