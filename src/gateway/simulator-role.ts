import type { AppContext } from '../context';

/** Starts the built-in gateway simulator as its own HTTP server. Filled in by the gateway module. */
export async function startSimulatorRole(ctx: AppContext): Promise<{ url: string; close(): Promise<void> }> {
  return { url: `http://${ctx.config.simulator.host}:${ctx.config.simulator.port}`, close: async () => undefined };
}
