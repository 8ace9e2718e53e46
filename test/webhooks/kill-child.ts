/**
 * The webhook roles (outbox dispatcher and delivery pump) in a child process for the SIGKILL fault test,
 * on the test's database, configured from the environment; WEBHOOK_TEST_LEASE_MS shortens the claim lease
 * so the test does not wait the production one out.
 */
import { loadConfig } from '../../src/config';
import { createAppContext } from '../../src/context';
import { startWebhookDeliverWorker } from '../../workers/webhook-deliver.worker';

const ctx = createAppContext(loadConfig(process.env));
const worker = startWebhookDeliverWorker(ctx, { idleMs: 50, leaseMs: process.env.WEBHOOK_TEST_LEASE_MS ? Number(process.env.WEBHOOK_TEST_LEASE_MS) : undefined });
// A graceful stop (SIGTERM) closes the roles and ends with code 0; the test's SIGKILL gets no say.
process.once('SIGTERM', () => {
  void worker
    .close()
    .then(() => ctx.close())
    .then(() => process.exit(0));
});
process.stdout.write('ready\n');
