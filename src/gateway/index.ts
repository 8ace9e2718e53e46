import type { Knex } from 'knex';
import type { Config } from '../config';
import { HttpGatewayClient } from './http-client';
import { ChannelRouter } from './router';

export * from './types';
export { GatewayError, isGatewayError, type GatewayErrorKind } from './errors';
export { HttpGatewayClient, errorFromResponse } from './http-client';
export { ChannelRouter } from './router';

/** Where the embedded simulator answers (SIMULATOR_HOST:SIMULATOR_PORT). */
export const simulatorUrl = (config: Config): string => `http://${config.simulator.host}:${config.simulator.port}`;

/**
 * The gateways of every channel behind one router: `simulator` at GATEWAY_URL (or the built-in
 * simulator), `wechaty` at WECHATY_GATEWAY_URL (the gateway-wechaty role).
 */
export function createGateway(config: Config, db: Knex, simulatorUrlOverride?: string): ChannelRouter {
  return new ChannelRouter(db, config.channels.defaultChannel, {
    simulator: new HttpGatewayClient({
      url: config.gateway.url ?? simulatorUrlOverride ?? simulatorUrl(config),
      apiKey: config.gateway.apiKey,
      timeoutMs: config.gateway.timeoutMs,
      batchSends: config.gateway.batchSends,
      connections: config.gateway.connections,
    }),
    wechaty: new HttpGatewayClient({
      url: config.wechaty.gatewayUrl,
      apiKey: config.wechaty.apiKey,
      // A send may wait for the provider up to WECHATY_SEND_TIMEOUT_MS; the platform waits a little longer.
      timeoutMs: Math.max(config.gateway.timeoutMs, config.wechaty.sendTimeoutMs + 5_000),
      batchSends: config.wechaty.batchSends,
    }),
  });
}
