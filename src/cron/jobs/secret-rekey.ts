import { rekeySecrets } from '../../db/channel-credentials';
import type { CronJob } from '../job';

/**
 * Key rotation: channel secrets sealed under a key that is no longer first in CHANNEL_SECRET_KEYS are
 * re-sealed under the active key, every ten minutes (a no-op once everything is current).
 */
export const secretRekeyJob: CronJob = {
  name: 'secret-rekey',
  schedule: '30 */10 * * * *',
  run: async (ctx) => ({ ...(await rekeySecrets(ctx.db, ctx.config.channels.keyRing)), active_key: ctx.config.channels.keyRing.activeKeyId }),
};
