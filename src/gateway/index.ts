import type { Config } from '../config';
import { HttpGatewayClient } from './http-client';
import type { GatewayClient } from './types';

export * from './types';
export { GatewayError, isGatewayError, type GatewayErrorKind } from './errors';
export { HttpGatewayClient, errorFromResponse } from './http-client';

/** Where the embedded simulator answers (SIMULATOR_HOST:SIMULATOR_PORT). */
export const simulatorUrl = (config: Config): string => `http://${config.simulator.host}:${config.simulator.port}`;

/**
 * The gateway the service talks to: GATEWAY_URL when configured, otherwise the built-in simulator
 * (or `simulatorUrl` when a test started one on a random port).
 */
export function createGateway(config: Config, simulatorUrlOverride?: string): GatewayClient {
  return new HttpGatewayClient({
    url: config.gateway.url ?? simulatorUrlOverride ?? simulatorUrl(config),
    apiKey: config.gateway.apiKey,
    timeoutMs: config.gateway.timeoutMs,
  });
}
