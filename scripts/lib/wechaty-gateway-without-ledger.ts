import 'dotenv/config';
import { loadConfig } from '../../src/config';
import { createAppContext } from '../../src/context';
import { startWechatyGatewayRole } from '../../src/gateway/wechaty/role';
import type { SendRecords } from '../../src/gateway/wechaty/send-ledger';
import { logger } from '../../src/logger';

/**
 * Bench only (scripts/bench-wechaty.ts): the gateway-wechaty role with a send ledger that records
 * nothing, so the bench can tell the ledger's share of a send's cost from the rest of the gateway. It
 * keeps no delivery guarantee (a repeated key is sent again): never a way to run the gateway.
 */
const noRecords: SendRecords = {
  reserve: async () => ({ kind: 'reserved' }),
  recordSent: async () => undefined,
  forget: async () => undefined,
};

async function main(): Promise<void> {
  const config = loadConfig();
  logger.level = config.logLevel;
  const ctx = createAppContext(config);
  const gw = await startWechatyGatewayRole(ctx, { ledger: noRecords });
  logger.info({ url: gw.url }, 'wechaty gateway listening (bench: without its send ledger)');
  const stop = async () => {
    await gw.close().catch(() => undefined);
    await ctx.close().catch(() => undefined);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main().catch((err) => {
  logger.fatal({ err }, 'failed to start');
  process.exit(1);
});
