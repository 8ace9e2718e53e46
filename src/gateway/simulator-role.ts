import type { AppContext } from '../context';
import { startSimulator } from './simulator';

/** Starts the built-in gateway simulator as its own HTTP server (the `simulator` role). */
export async function startSimulatorRole(ctx: AppContext): Promise<{ url: string; close(): Promise<void> }> {
  const { config } = ctx;
  const sim = await startSimulator({
    port: config.simulator.port,
    host: config.simulator.listenHost,
    callbackUrl: config.gateway.callbackUrl,
    callbackSecret: config.gateway.callbackSecret,
    apiKey: config.gateway.apiKey,
    controlToken: config.simulator.controlToken,
    autoLogin: config.simulator.autoLogin,
    settings: {
      auto_login_delay_ms: config.simulator.autoLoginDelayMs,
      qr_ttl_ms: config.simulator.qrTtlSeconds * 1000,
      send_rate_per_minute: config.simulator.sendRatePerMinute,
    },
  });
  return { url: sim.url, close: sim.close };
}
