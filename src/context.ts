import type Redis from 'ioredis';
import type { Knex } from 'knex';
import type { Config } from './config';
import { createKnex } from './db/knex';
import { createReadReplica, type ReadReplica } from './db/read-replica';
import { createGateway } from './gateway';
import { officialClient } from './gateway/official';
import type { ChannelRouter } from './gateway/router';
import { logger, type Logger } from './logger';
import { createMetricsSink } from './metrics/influx';
import type { MetricsSink } from './metrics/sink';
import { Queues } from './queues/queues';
import { RealtimePublisher } from './realtime/publisher';
import { createRedis } from './redis';
import { createFileStorage } from './storage';
import type { FileStorage } from './storage/types';

/**
 * Everything a process role needs, built once from config and passed down explicitly (no singletons),
 * so tests can build as many isolated contexts as they like.
 */
export interface AppContext {
  config: Config;
  /** The primary: every write, and every read that must see its own writes. */
  db: Knex;
  /**
   * Lists, reports and exports: the read replica while it is up and not lagging (DB_READ_HOST), else
   * the primary. Ask per query (`ctx.readDb()`); do not keep the result.
   */
  readDb(): Knex;
  /** The replica's state and lag, for /health/ready and metrics. */
  replica: ReadReplica;
  /** Command connection for locks, counters, rate limits. */
  redis: Redis;
  queues: Queues;
  realtime: RealtimePublisher;
  /**
   * The gateways, routed per account channel (src/gateway/router.ts): `gateway.for(account.channel)`
   * with the account at hand, or the router's own methods by guid.
   */
  gateway: ChannelRouter;
  logger: Logger;
  /** Time-series measurements (InfluxDB, or a no-op when INFLUX_URL is unset); never blocks the caller. */
  metrics: MetricsSink;
  /** Object storage for tenant files (MinIO, or the local FILES_DIR when MINIO_ENDPOINT is unset). */
  storage: FileStorage;
  /** Closers registered by parts that own resources (gateway agents, metrics writers …), run on close. */
  onClose(fn: () => Promise<void> | void): void;
  close(): Promise<void>;
}

export function createAppContext(config: Config): AppContext {
  const db = createKnex(config.db);
  const replica = createReadReplica(db, config.dbRead, logger);
  const redis = createRedis(config.redis);
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  const queueConnection = createRedis(config.redis, 'blocking');
  queueConnection.on('error', () => undefined);
  const queues = new Queues(queueConnection, config.redis.prefix);
  const metrics = createMetricsSink(config.influx);
  const closers: Array<() => Promise<void> | void> = [() => metrics.close()];
  let closed = false;
  const gateway = createGateway(config, db);
  const storage = createFileStorage(config);
  gateway.register('official', officialClient(config, db, redis, storage));
  return {
    config,
    db,
    readDb: () => replica.db(),
    replica,
    redis,
    queues,
    realtime: new RealtimePublisher(redis, config.redis.prefix),
    gateway,
    logger,
    metrics,
    storage,
    onClose: (fn) => closers.push(fn),
    async close() {
      if (closed) return;
      closed = true;
      for (const fn of closers.reverse()) await fn();
      await gateway.close();
      await queues.close();
      queueConnection.disconnect();
      redis.disconnect();
      await replica.close();
      await db.destroy();
    },
  };
}
