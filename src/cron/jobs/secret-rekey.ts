import { rekeySecrets } from '../../db/channel-credentials';
import { rekeyEndpointSecrets } from '../../db/webhook-endpoints';
import type { CronJob } from '../job';

/**
 * Key rotation: channel secrets sealed under a key that is no longer first in CHANNEL_SECRET_KEYS are
 * re-sealed under the active key, every ten minutes (a no-op once everything is current). Webhook
 * signing secrets share the key ring and are re-sealed the same way.
 */
export const secretRekeyJob: CronJob = {
  name: 'secret-rekey',
  schedule: '30 */10 * * * *',
  run: async (ctx) => ({
    ...(await rekeySecrets(ctx.db, ctx.config.channels.keyRing)),
    webhook_secrets: await rekeyEndpointSecrets(ctx.db, ctx.config.channels.keyRing),
    active_key: ctx.config.channels.keyRing.activeKeyId,
  }),
};
