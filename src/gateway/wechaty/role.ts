import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { AppContext } from '../../context';
import { createRedis } from '../../redis';
import { CallbackSender } from '../simulator/callback-sender';
import { platformFileResolver } from './files';
import { SessionHost } from './host';
import { InstanceStore } from './instance-store';
import { clientModules } from './puppet-client';
import { SendLedger, type SendRecords } from './send-ledger';
import { WechatySender } from './sender';
import { buildWechatyApp, listen } from './server';

/**
 * The `gateway-wechaty` role: the gateway REST protocol towards the platform, Wechaty Puppet Service
 * towards the provider, sessions of many accounts in one process. Stateless apart from live gRPC
 * connections: instances, send ledger and session leases live in Redis.
 * `ledger` replaces the send ledger (only scripts/bench-wechaty.ts does, to price the ledger's cost).
 */
export async function startWechatyGatewayRole(ctx: AppContext, o: { ledger?: SendRecords } = {}): Promise<{ url: string; close(): Promise<void> }> {
  const { config } = ctx;
  const w = config.wechaty;
  // The client keeps a LevelDB cache under $HOME/.wechaty; the gateway's goes where it is configured.
  const cacheDir = path.resolve(w.cacheDir);
  mkdirSync(cacheDir, { recursive: true });
  process.env.HOME = cacheDir;

  // Loading the client takes seconds of CPU: do it now, not inside the first login while leases run.
  clientModules();
  const log = ctx.logger.child({ role: 'gateway-wechaty' });
  const callbacks = new CallbackSender({ url: config.gateway.callbackUrl, secret: config.gateway.callbackSecret });
  const store = new InstanceStore(ctx.redis, config.redis.prefix, config.channels.keyRing);
  const host = new SessionHost({
    store,
    callbacks,
    log,
    url: w.advertiseUrl,
    leaseMs: w.leaseMs,
    settings: {
      loginWaitMs: w.loginWaitMs,
      sendTimeoutMs: w.sendTimeoutMs,
      reconnectBaseMs: w.reconnectBaseMs,
      reconnectMaxMs: w.reconnectMaxMs,
      heartbeatTimeoutMs: w.heartbeatTimeoutSeconds * 1000,
      keepaliveMs: Math.max(1, w.keepaliveSeconds) * 1000,
      qrTtlMs: w.qrTtlSeconds * 1000,
      qrRefreshGraceMs: 5_000,
      startTimeoutMs: 30_000,
    },
  });
  // The ledger writes twice per send: on a connection of its own with auto-pipelining, the writes of
  // concurrent sends leave in one socket write per event-loop turn instead of one each (the syscalls
  // were a fifth of the gateway's CPU per send). Order per key is unchanged: one connection, FIFO.
  const ledgerRedis = createRedis(config.redis, 'command', { enableAutoPipelining: true });
  ledgerRedis.on('error', (err) => log.warn({ err: err.message }, 'wechaty ledger: redis connection error'));
  const sender = new WechatySender(o.ledger ?? new SendLedger(ledgerRedis, config.redis.prefix), platformFileResolver(ctx.db, ctx.storage, ctx), w.sendTimeoutMs);
  const app = buildWechatyApp({ host, sender, apiKey: w.apiKey, log });
  const { server, url } = await listen(app, w.port, w.listenHost);
  // Sessions that should run and that nobody holds (this copy restarted) come back at once.
  await host.tickNow();
  return {
    url,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await host.close();
      await callbacks.drained(3_000);
      await callbacks.close();
      await ledgerRedis.quit().catch(() => ledgerRedis.disconnect());
    },
  };
}
