/**
 * `npm run chaos`: the outage scenario at full size (scripts/chaos/scenario.ts). Prints the recovery
 * times and the simulator's ledger against the targets; exits 1 when anything was lost, duplicated,
 * miscounted or left undelivered, or a process exited on its own.
 *
 *   npm run chaos                         20,000 targets, 8 accounts at 1,500/min each
 *   CHAOS_TARGETS=5000 npm run chaos      a shorter run
 */
import { formatReport, runChaos } from './scenario';

const num = (name: string, def: number) => (process.env[name] ? Number(process.env[name]) : def);

async function main(): Promise<void> {
  const report = await runChaos({
    targets: num('CHAOS_TARGETS', 20_000),
    accounts: num('CHAOS_ACCOUNTS', 8),
    ratePerMinute: num('CHAOS_RATE_PER_MINUTE', 1500),
    outageMs: num('CHAOS_OUTAGE_MS', 3000),
    reconcileAfterSeconds: num('CHAOS_RECONCILE_AFTER_SECONDS', 15),
    timeoutMs: num('CHAOS_TIMEOUT_MS', 20 * 60_000),
    keep: process.env.CHAOS_KEEP === '1',
    log: (line) => console.log(`[chaos] ${line}`),
  });
  for (const line of formatReport(report)) console.log(line);
  if (process.env.CHAOS_KEEP === '1') console.log(`logs: ${report.logDir}`);
  process.exit(formatReport(report).at(-1) === 'VERDICT: pass' ? 0 : 1);
}

main().catch((err) => {
  console.error(`[chaos] ${(err as Error).stack ?? err}`);
  process.exit(1);
});
