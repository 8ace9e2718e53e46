import 'dotenv/config';
import { loadConfig } from '../src/config';
import { rekeySecrets } from '../src/db/channel-credentials';
import { createKnex } from '../src/db/knex';

/**
 * `npm run secrets:rekey`: re-seals every channel secret under the active key of CHANNEL_SECRET_KEYS
 * (the cron job does the same every ten minutes). Rotate: put a new key first, run this, drop the old key.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const db = createKnex(config.db, { poolMax: 2 });
  try {
    const res = await rekeySecrets(db, config.channels.keyRing);
    console.log(`[secrets] active key ${config.channels.keyRing.activeKeyId}: ${res.resealed} re-sealed, ${res.failed} sealed with keys no longer in the ring`);
    if (res.failed > 0) process.exitCode = 1;
  } finally {
    await db.destroy();
  }
}

main().catch((err) => {
  console.error(`[secrets] ${(err as Error).message}`);
  process.exit(1);
});
