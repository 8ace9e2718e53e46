import { accountWatchdogJob } from './jobs/account-watchdog';
import { callbackSweeperJob } from './jobs/callback-sweeper';
import type { CronJob } from './job';
import { messageReconcileJob } from './jobs/message-reconcile';
import { messageStatsRollupJob } from './jobs/message-stats-rollup';
import { metricsSamplerJob } from './jobs/metrics-sampler';
import { officialGroupSendPollJob } from './jobs/official-group-send-poll';
import { partitionMaintenanceJob } from './jobs/partition-maintenance';
import { retentionCleanupJob } from './jobs/retention-cleanup';
import { secretRekeyJob } from './jobs/secret-rekey';
import { stuckTaskJob } from './jobs/stuck-tasks';

/** Every scheduled job of the `cron` role. Modules add their jobs here, one line each. */
export const CRON_JOBS: CronJob[] = [
  accountWatchdogJob,
  callbackSweeperJob,
  partitionMaintenanceJob,
  retentionCleanupJob,
  stuckTaskJob,
  messageStatsRollupJob,
  messageReconcileJob,
  officialGroupSendPollJob,
  metricsSamplerJob,
  secretRekeyJob,
];
