/**
 * A worker process for the SIGKILL fault test: the expand and send workers on the test's database,
 * Redis prefix and simulator, configured entirely from the environment the test passes.
 */
import { loadConfig } from '../../src/config';
import { createAppContext } from '../../src/context';
import { startMessageSendWorker } from '../../workers/message-send.worker';
import { startTaskExpandWorker } from '../../workers/task-expand.worker';

const ctx = createAppContext(loadConfig(process.env));
startTaskExpandWorker(ctx);
startMessageSendWorker(ctx, { sweepIntervalMs: 500, sender: { budgetMs: 2_000 } });
process.stdout.write('ready\n');
