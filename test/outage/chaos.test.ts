/**
 * The chaos scenario of `npm run chaos`, shorter: api, simulator, cron and two workers as separate
 * processes on a private MariaDB and Redis (AOF); during one task each worker is SIGKILLed (a new one
 * started), Redis and MariaDB are kill -9ed and restarted; nothing restarts a process that exits. The
 * simulator's ledger is the independent record. See scripts/chaos/scenario.ts.
 */
import { formatReport, runChaos, type ChaosReport } from '../../scripts/chaos/scenario';

jest.setTimeout(480_000);

let report: ChaosReport;

test('nothing lost, nothing sent twice, counters exact, every delivery marked, the task completes, no process exits; a killed worker\'s accounts send again within 5 s', async () => {
  report = await runChaos({
    targets: 800,
    accounts: 4,
    ratePerMinute: 900,
    outageMs: 1500,
    reconcileAfterSeconds: 5,
    timeoutMs: 240_000,
  });
  // Printed for the record (jest shows it with the result).
  console.log(formatReport(report).join('\n'));
  expect(report.unhandledSamples).toEqual([]);
  expect(report.exited).toEqual([]);
  expect(report.unhandledRejections).toBe(0);
  expect(report.taskStatus).toBe('completed');
  expect(report.lost).toBe(0);
  expect(report.duplicated).toBe(0);
  expect(report.countersMatchRows).toBe(true);
  expect(report.undelivered).toBe(0);
  expect(report.deliveredCounterVsLedger.delivered_count).toBe(report.deliveredCounterVsLedger.ledger_deliveries);
  expect(report.faults).toHaveLength(4);
  for (const f of report.faults) expect(f.recoveryMs).not.toBeNull();
  for (const f of report.faults.filter((x) => x.fault.startsWith('SIGKILL'))) expect(f.recoveryMs!).toBeLessThanOrEqual(5_000);
});
