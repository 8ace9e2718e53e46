import 'dotenv/config';
import { ConfigError, loadConfig, type Config } from './config';
import { createAppContext } from './context';
import { startCron } from './cron';
import { logger } from './logger';
import { installUnhandledRejectionNet } from './unhandled-rejections';
import { startApiServer } from './server';
import { WORKERS } from '../workers';
import { startSimulatorRole } from './gateway/simulator-role';
import { startWechatyGatewayRole } from './gateway/wechaty/role';

/**
 * One entry, several roles: `api`, `worker`, `cron`, `simulator`, `gateway-wechaty`, or `all`
 * (development). The same build runs as one process on a laptop or as separately scaled deployments.
 */
export const ROLES = ['api', 'worker', 'cron', 'simulator', 'gateway-wechaty'] as const;
export type Role = (typeof ROLES)[number];

export function parseRoles(argv: string[], env: NodeJS.ProcessEnv): Role[] {
  const i = argv.indexOf('--role');
  const raw = (i >= 0 ? argv[i + 1] : undefined) ?? env.ROLE ?? 'all';
  if (raw === 'all') return [...ROLES];
  const roles = raw.split(',').map((r) => r.trim());
  for (const r of roles) {
    if (!(ROLES as readonly string[]).includes(r)) throw new ConfigError(`invalid configuration: ROLE: unknown role "${r}" (${ROLES.join(', ')}, all)`);
  }
  return roles as Role[];
}

async function main(): Promise<void> {
  let config: Config;
  let roles: Role[];
  try {
    config = loadConfig();
    roles = parseRoles(process.argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  logger.level = config.logLevel;
  const ctx = createAppContext(config);
  const stops: Array<() => Promise<void>> = [];

  // The simulator starts first so an embedded gateway is answering before anything calls it.
  if (roles.includes('simulator') && !config.gateway.url) {
    const sim = await startSimulatorRole(ctx);
    stops.push(sim.close);
    logger.info({ url: sim.url }, 'gateway simulator listening');
  }
  if (roles.includes('gateway-wechaty')) {
    const gw = await startWechatyGatewayRole(ctx);
    stops.push(gw.close);
    logger.info({ url: gw.url }, 'wechaty gateway listening');
  }
  if (roles.includes('api')) {
    const api = await startApiServer(ctx);
    stops.push(api.close);
    logger.info({ url: api.url }, 'API listening');
  }
  if (roles.includes('worker')) {
    for (const start of WORKERS) {
      const w = await start(ctx);
      stops.push(w.close);
    }
    logger.info({ count: WORKERS.length }, 'workers started');
  }
  if (roles.includes('cron') && config.cronEnabled) {
    const cron = await startCron(ctx);
    stops.push(cron.close);
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 25_000);
    force.unref();
    // Stop intake first (API, cron), then let workers finish in-flight jobs, then close connections.
    for (const stop of stops.reverse()) {
      await stop().catch((err) => logger.error({ err }, 'error during shutdown'));
    }
    await ctx.close().catch((err) => logger.error({ err }, 'error closing connections'));
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  // One line per process saying which roles it runs, once it takes signals (the Docker replay waits for it).
  logger.info({ roles, env: config.env }, 'service started');
}

if (require.main === module) {
  installUnhandledRejectionNet();
  main().catch((err) => {
    logger.fatal({ err }, 'failed to start');
    process.exit(1);
  });
}
