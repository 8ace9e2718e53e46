import { isIP } from 'node:net';
import { z } from 'zod';
import { KeyRing, SecretError, developmentKeyRing, parseKeyRing } from '../secrets/key-ring';
import { parseAllowList, type SsrfPolicy } from '../webhooks/ssrf';

/**
 * Configuration comes only from the environment (plus an optional .env loaded by the entry point).
 * It is validated once at start-up; a bad value stops the process with one line naming the variable.
 */
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (def: number) => z.coerce.number().int().nonnegative().default(def);
const CLUSTER_NODE = /^\[?([^\]]+?)\]?:(\d+)$/;
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v === '' ? undefined : v));

const NAMED_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * TRUST_PROXY: the reverse proxies in front of the API, as addresses, CIDR ranges or express's named
 * ranges; `none` trusts nobody. Anything broader (`true`, hop counts) would let a client that reaches
 * the API directly forge its address, so it is refused. Returns undefined for an invalid value.
 */
export function parseTrustProxy(value: string): string[] | undefined {
  const entries = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (entries.length === 1 && entries[0] === 'none') return [];
  const valid = (entry: string) => {
    if (NAMED_RANGES.has(entry)) return true;
    const [address, bits, extra] = entry.split('/');
    const family = isIP(address);
    if (family === 0 || extra !== undefined) return false;
    if (bits === undefined) return true;
    return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
  };
  return entries.length > 0 && entries.every(valid) ? entries : undefined;
}

export const configSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    HOST: z.string().default('0.0.0.0'),
    PORT: int(3000),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    // auto: readable lines in development at a terminal, JSON otherwise (src/logger.ts reads it at import).
    LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
    PUBLIC_URL: optionalString,
    CORS_ORIGINS: z.string().default('*'),
    BODY_LIMIT: z.string().default('1mb'),
    // Proxies whose X-Forwarded-For is believed (client IP for rate limits and the audit log).
    TRUST_PROXY: z
      .string()
      .default('loopback')
      .transform((v) => parseTrustProxy(v))
      .refine((v) => v !== undefined, 'comma-separated IPs, CIDR ranges, loopback, linklocal or uniquelocal; or none'),

    DB_HOST: z.string().default('127.0.0.1'),
    DB_PORT: int(3306),
    DB_USER: z.string().default('root'),
    DB_PASSWORD: z.string().default(''),
    DB_NAME: z.string().regex(/^[A-Za-z0-9_]+$/, 'letters, digits and _ only').default('wework_platform'),
    DB_POOL_MAX: int(20),
    // Read replica (optional): list, report and export queries go there while it is up and not lagging
    // more than DB_READ_MAX_LAG_SECONDS (checked every DB_READ_CHECK_MS); port, user and password
    // default to the primary's. The user needs SLAVE MONITOR to read the lag.
    DB_READ_HOST: optionalString,
    DB_READ_PORT: z.coerce.number().int().positive().optional(),
    DB_READ_USER: optionalString,
    DB_READ_PASSWORD: z.string().optional(),
    DB_READ_POOL_MAX: int(10),
    DB_READ_MAX_LAG_SECONDS: int(10),
    DB_READ_CHECK_MS: z.coerce.number().int().min(100).default(2000),

    REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
    // Hash-tagged so every key of the platform lands in one Redis Cluster slot per prefix (BullMQ needs this).
    REDIS_PREFIX: z.string().default('{wwp}'),
    // Redis Cluster seed nodes (host:port,host:port,…); when set every connection is an ioredis Cluster client.
    REDIS_CLUSTER_NODES: optionalString.refine(
      (v) => v === undefined || v.split(',').every((n) => CLUSTER_NODE.test(n.trim())),
      'comma-separated host:port list',
    ),
    // Hash-tag shards for per-account keys and send queues ({wwp:0} … {wwp:K-1}); 1 keeps every key under REDIS_PREFIX.
    REDIS_SHARDS: z.coerce.number().int().min(1).max(1024).default(1),

    JWT_SECRET: z.string().min(16).default('dev-only-secret-change-me-please'),
    ACCESS_TOKEN_TTL_SECONDS: int(900),
    REFRESH_TOKEN_TTL_SECONDS: int(30 * 24 * 3600),
    LOGIN_MAX_FAILURES: int(5),
    LOGIN_LOCK_SECONDS: int(15 * 60),
    LOGIN_RATE_LIMIT_PER_MINUTE: int(20),
    PASSWORD_HASH_MEMORY_KIB: int(19456),
    PASSWORD_HASH_TIME_COST: int(2),

    PLATFORM_ADMIN_USERNAME: z.string().min(1).default('platform-admin'),
    PLATFORM_ADMIN_PASSWORD: z.string().min(8).default('platform-admin-pass'),

    // Gateway: empty URL means the built-in simulator (embedded default).
    GATEWAY_URL: optionalString,
    GATEWAY_API_KEY: z.string().default('simulator-key'),
    GATEWAY_TIMEOUT_MS: int(10000),
    // Sends ready together go to the GATEWAY_URL gateway as one batch request (protocol.ts): the HTTP hop
    // paid once per batch (bench:send: 1.10 × the bare one-request-per-send loop with it, 0.60 without).
    GATEWAY_BATCH_SENDS: bool.default('true'),
    // Keep-alive connections per gateway: at least the paced sends in flight at once (one per account), or
    // they queue for a connection and the queue comes out of every account's rate.
    GATEWAY_CONNECTIONS: z.coerce.number().int().min(1).default(256),
    GATEWAY_CALLBACK_SECRET: z.string().min(8).default('simulator-callback-secret'),
    CALLBACK_TOLERANCE_SECONDS: int(300),
    SIMULATOR_HOST: z.string().default('127.0.0.1'),
    SIMULATOR_PORT: int(3100),
    // Address the simulator role binds to (0.0.0.0 in containers); SIMULATOR_HOST is where clients reach it.
    SIMULATOR_LISTEN_HOST: z.string().default('127.0.0.1'),
    SIMULATOR_AUTO_LOGIN: bool.default('true'),
    SIMULATOR_AUTO_LOGIN_DELAY_MS: int(1500),
    SIMULATOR_QR_TTL_SECONDS: int(120),
    SIMULATOR_SEND_RATE_PER_MINUTE: int(60),
    // When set, the simulator's /_control API requires `Authorization: Bearer <token>` (it can log accounts in and out).
    SIMULATOR_CONTROL_TOKEN: optionalString,
    // When set, GET /metrics requires `Authorization: Bearer <token>` (Prometheus: `authorization: { credentials: … }`).
    METRICS_TOKEN: optionalString,
    // Account login / recovery (issue 3).
    ACCOUNT_LOGIN_TIMEOUT_SECONDS: int(180),
    ACCOUNT_LOGIN_POLL_MS: int(2000),
    ACCOUNT_RECOVERY_BASE_DELAY_MS: int(5000),
    ACCOUNT_RECOVERY_MAX_DELAY_MS: int(300_000),
    ACCOUNT_RECOVERY_MAX_RETRIES: int(5),
    // Sending: paced sends keep this percentage below the configured per-account rate. 0: the count (or
    // answer) rule alone keeps a strict gateway limiter from seeing an early arrival; a margin only costs rate.
    SEND_PACING_MARGIN_PCT: z.coerce.number().min(0).max(50).default(0),
    // `ignore`: pace from each answer even when the gateway says when it counted a send (`counted_at`).
    SEND_PACING_COUNTED_AT: z.enum(['use', 'ignore']).default('use'),
    // Sent messages still without a receipt after this long are asked about at the gateway (issue 8).
    RECONCILE_AFTER_SECONDS: int(300),
    // Tenant webhooks (issue 12): request timeout, retry schedule (~1 day with the defaults), SSRF guard.
    WEBHOOK_TIMEOUT_MS: int(10_000),
    WEBHOOK_RETRY_BASE_MS: int(10_000),
    WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(30).default(14),
    WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(32),
    // Of those, requests to one endpoint at once: a hanging endpoint holds only these.
    WEBHOOK_ENDPOINT_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(16),
    WEBHOOK_ROTATION_OVERLAP_SECONDS: int(86_400),
    // true: deliver to loopback/private/link-local addresses too (development only).
    WEBHOOK_ALLOW_PRIVATE: bool.default('false'),
    // Addresses or CIDR ranges allowed despite the SSRF guard, e.g. "127.0.0.1/32,10.1.2.0/24".
    WEBHOOK_ALLOWED_CIDRS: optionalString.refine((v) => {
      try {
        parseAllowList(v);
        return true;
      } catch {
        return false;
      }
    }, 'must be IP addresses or CIDR ranges, comma-separated'),
    // Where the gateway (or simulator) POSTs callbacks; defaults to this API.
    CALLBACK_URL: optionalString,
    // Channels (issue 10): new accounts' channel when the request names none; secrets of channels at rest.
    DEFAULT_ACCOUNT_CHANNEL: z.enum(['simulator', 'wechaty', 'official']).default('simulator'),
    // "id:base64(32 bytes),…": AES-256-GCM key ring for channel credentials; the first key encrypts.
    CHANNEL_SECRET_KEYS: optionalString,
    // The Wechaty Puppet Service gateway (role gateway-wechaty): where the platform reaches it …
    WECHATY_GATEWAY_URL: optionalString,
    WECHATY_GATEWAY_HOST: z.string().default('127.0.0.1'),
    WECHATY_GATEWAY_PORT: int(3200),
    WECHATY_GATEWAY_LISTEN_HOST: z.string().default('127.0.0.1'),
    WECHATY_GATEWAY_API_KEY: z.string().min(8).default('wechaty-gateway-key'),
    // … and how it runs its puppets.
    WECHATY_CACHE_DIR: z.string().default('./data/wechaty'),
    WECHATY_LOGIN_WAIT_MS: int(15_000),
    WECHATY_SEND_TIMEOUT_MS: int(20_000),
    // Sends ready together go to the Wechaty gateway as one batch request (protocol.ts).
    WECHATY_BATCH_SENDS: bool.default('true'),
    WECHATY_RECONNECT_BASE_MS: int(2_000),
    WECHATY_RECONNECT_MAX_MS: int(60_000),
    WECHATY_HEARTBEAT_TIMEOUT_SECONDS: int(90),
    // How often the gateway pings each provider session (ding → dong), and its QR lifetime when the
    // provider gives none.
    WECHATY_KEEPALIVE_SECONDS: int(30),
    WECHATY_QR_TTL_SECONDS: int(120),
    // Session ownership between gateway copies: a lease renewed every third of this; a killed copy's
    // sessions are taken over after it lapses. Each copy's own URL for the others to forward to.
    WECHATY_LEASE_MS: int(15_000),
    WECHATY_GATEWAY_ADVERTISE_URL: optionalString,
    // The official WeCom server API (channel `official`, issue 13): its base URL (a local fake in tests),
    // how long before expires_in a token is refreshed, and the limits the pacer enforces.
    WECOM_API_BASE: z.string().url().default('https://qyapi.weixin.qq.com'),
    WECOM_API_TIMEOUT_MS: int(10_000),
    WECOM_TOKEN_REFRESH_MARGIN_SECONDS: int(300),
    WECOM_API_CALLS_PER_MINUTE: int(10_000),
    WECOM_MEMBER_MESSAGES_PER_MINUTE: int(30),
    WECOM_MEMBER_MESSAGES_PER_HOUR: int(1_000),
    WECOM_CUSTOMER_RECEIVE_LIMIT: int(1),
    WECOM_CUSTOMER_RECEIVE_PERIOD_SECONDS: int(86_400),
    WECOM_RATE_LIMIT_BACKOFF_MS: int(60_000),
    WECOM_POLL_AFTER_SECONDS: int(10),

    INFLUX_URL: optionalString,
    INFLUX_TOKEN: z.string().default(''),
    INFLUX_ORG: z.string().default('wework'),
    INFLUX_BUCKET: z.string().default('wework'),

    MINIO_ENDPOINT: optionalString,
    MINIO_PORT: int(9000),
    MINIO_USE_SSL: bool.default('false'),
    MINIO_ACCESS_KEY: z.string().default(''),
    MINIO_SECRET_KEY: z.string().default(''),
    MINIO_BUCKET: z.string().default('wework-platform'),
    FILES_DIR: z.string().default('./data/files'),
    MAX_UPLOAD_BYTES: int(20 * 1024 * 1024),

    PARTITION_MONTHS_AHEAD: int(3),
    HEARTBEAT_STALE_SECONDS: int(90),
    CRON_ENABLED: bool.default('true'),
    // Retention (cron maintenance, issue 5): whole monthly partitions older than this are dropped.
    RETENTION_MESSAGES_MONTHS: int(12),
    RETENTION_CALLBACK_EVENTS_MONTHS: int(3),
    RETENTION_ACCOUNT_STATUS_HISTORY_MONTHS: int(12),
    RETENTION_AUDIT_LOGS_MONTHS: int(24),
    // Shorter message retention per tenant plan ("plan:days,…"): whole months when only such tenants use them, else rows in batches.
    RETENTION_PLAN_MESSAGE_DAYS: z.string().regex(/^([a-z0-9_-]+:\d+)?(,[a-z0-9_-]+:\d+)*$/i, 'plan:days,plan:days').default('basic:30,pro:90,enterprise:365'),
    RETENTION_CALLBACK_KEYS_DAYS: int(7),
    RETENTION_WEBHOOK_DELIVERIES_DAYS: int(14),
    ORPHAN_FILE_DAYS: int(2),
    STUCK_TASK_MINUTES: int(30),
    ROLLUP_HOURS_BACK: int(6),
  })
  .superRefine((c, ctx) => {
    if (c.NODE_ENV === 'production' && c.JWT_SECRET.startsWith('dev-only')) {
      ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'must be set in production' });
    }
    if (c.CHANNEL_SECRET_KEYS) {
      try {
        parseKeyRing(c.CHANNEL_SECRET_KEYS);
      } catch (err) {
        if (!(err instanceof SecretError)) throw err;
        ctx.addIssue({ code: 'custom', path: ['CHANNEL_SECRET_KEYS'], message: err.message });
      }
    }
  });

export type Env = z.infer<typeof configSchema>;

/** Variables a production deployment must set explicitly: their development defaults are unsafe or local-only. */
export const PRODUCTION_REQUIRED = [
  'DB_HOST',
  'DB_PASSWORD',
  'REDIS_URL',
  'JWT_SECRET',
  'PLATFORM_ADMIN_PASSWORD',
  'GATEWAY_API_KEY',
  'GATEWAY_CALLBACK_SECRET',
  'PUBLIC_URL',
  'CHANNEL_SECRET_KEYS',
] as const;

/**
 * Development values of secrets, published in the README and docs/configuration.md: everyone knows them,
 * so production refuses them even when they are set explicitly.
 */
export const PUBLISHED_SECRET_DEFAULTS: Readonly<Record<string, readonly string[]>> = {
  JWT_SECRET: ['dev-only-secret-change-me-please'],
  PLATFORM_ADMIN_PASSWORD: ['platform-admin-pass', 'demo-admin-pass'],
  GATEWAY_API_KEY: ['simulator-key'],
  GATEWAY_CALLBACK_SECRET: ['simulator-callback-secret'],
  WECHATY_GATEWAY_API_KEY: ['wechaty-gateway-key'],
  SIMULATOR_CONTROL_TOKEN: ['simulator-key', 'simulator-callback-secret'],
  METRICS_TOKEN: ['simulator-key', 'simulator-callback-secret'],
};

export interface RedisConfig {
  url: string;
  /** Hash-tagged base prefix ({wwp}): global keys and queues. */
  prefix: string;
  /** Redis Cluster seed nodes; unset = the single Redis at `url`. */
  clusterNodes?: Array<{ host: string; port: number }>;
  /** Hash-tag shards for per-account keys and send queues (src/redis-keyspace.ts); 1 when unset. */
  shards?: number;
}

/** `host:port,host:port` → seed nodes; an IPv6 host is written in brackets ([::1]:7000). */
export function parseClusterNodes(list: string | undefined): RedisConfig['clusterNodes'] {
  if (!list) return undefined;
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = CLUSTER_NODE.exec(s);
      if (!m) throw new Error(`REDIS_CLUSTER_NODES: "${s}" is not host:port`);
      return { host: m[1], port: Number(m[2]) };
    });
}

export interface Config {
  env: Env['NODE_ENV'];
  http: { host: string; port: number; publicUrl: string; corsOrigins: string[]; bodyLimit: string; trustProxy: string[]; metricsToken?: string };
  logLevel: Env['LOG_LEVEL'];
  logFormat: Env['LOG_FORMAT'];
  db: { host: string; port: number; user: string; password: string; database: string; poolMax: number };
  /** The read replica, when DB_READ_HOST is set: same database name as the primary. */
  dbRead?: { host: string; port: number; user: string; password: string; database: string; poolMax: number; maxLagSeconds: number; checkMs: number };
  redis: RedisConfig;
  auth: {
    jwtSecret: string;
    accessTokenTtl: number;
    refreshTokenTtl: number;
    maxFailures: number;
    lockSeconds: number;
    loginRatePerMinute: number;
    hashMemoryKib: number;
    hashTimeCost: number;
    platformAdmin: { username: string; password: string };
  };
  gateway: {
    url: string | undefined;
    apiKey: string;
    timeoutMs: number;
    /** The platform's client sends ready-together sends as one batch request. */
    batchSends: boolean;
    /** Keep-alive connections per gateway origin (GATEWAY_CONNECTIONS). */
    connections: number;
    callbackSecret: string;
    callbackToleranceSeconds: number;
    callbackUrl: string;
  };
  simulator: {
    host: string;
    listenHost: string;
    port: number;
    autoLogin: boolean;
    autoLoginDelayMs: number;
    qrTtlSeconds: number;
    sendRatePerMinute: number;
    /** Bearer token the /_control API requires; unset = open (keep the simulator on a private network). */
    controlToken?: string;
  };
  /** Channels: the default of new accounts, the key ring of channel secrets, the Wechaty gateway. */
  /** Tenant webhooks: delivery timeout, retry schedule, requests in flight per process and per endpoint, SSRF policy. */
  webhooks: { timeoutMs: number; retryBaseMs: number; maxAttempts: number; concurrency: number; endpointConcurrency: number; rotationOverlapSeconds: number; ssrf: SsrfPolicy };
  channels: { defaultChannel: 'simulator' | 'wechaty' | 'official'; keyRing: KeyRing };
  wechaty: {
    gatewayUrl: string;
    host: string;
    listenHost: string;
    port: number;
    apiKey: string;
    cacheDir: string;
    loginWaitMs: number;
    sendTimeoutMs: number;
    /** The platform's client sends ready-together sends as one batch request. */
    batchSends: boolean;
    reconnectBaseMs: number;
    reconnectMaxMs: number;
    heartbeatTimeoutSeconds: number;
    keepaliveSeconds: number;
    qrTtlSeconds: number;
    leaseMs: number;
    advertiseUrl: string;
  };
  /**
   * Sending pipeline: paced sends hold `pacingMarginPct` percent below the configured rate; messages
   * `sent` longer than `reconcileAfterSeconds` without a receipt are asked about at the gateway;
   * `useCountedAt`: the next paced send waits from when the gateway counted the previous one, when it says.
   */
  sending: { pacingMarginPct: number; reconcileAfterSeconds: number; useCountedAt: boolean };
  /** The official WeCom server API (channel `official`). */
  official: {
    apiBase: string;
    timeoutMs: number;
    tokenRefreshMarginSeconds: number;
    apiCallsPerMinute: number;
    memberMessagesPerMinute: number;
    memberMessagesPerHour: number;
    customerReceiveLimit: number;
    customerReceivePeriodSeconds: number;
    rateLimitBackoffMs: number;
    /** Official messages still `sent` are asked about at WeCom once this old (group-send results). */
    pollAfterSeconds: number;
  };
  accounts: { loginTimeoutSeconds: number; loginPollMs: number; recoveryBaseDelayMs: number; recoveryMaxDelayMs: number; recoveryMaxRetries: number };
  influx: { url: string | undefined; token: string; org: string; bucket: string };
  minio:
    | { endPoint: string; port: number; useSSL: boolean; accessKey: string; secretKey: string; bucket: string }
    | undefined;
  files: { dir: string; maxUploadBytes: number };
  partitions: { monthsAhead: number };
  heartbeatStaleSeconds: number;
  cronEnabled: boolean;
  retention: {
    /** Months kept per partitioned table (by table name). */
    partitionMonths: Record<string, number>;
    /** Message retention in days for tenants on these plans (shorter than the partition retention). */
    planMessageDays: Record<string, number>;
    callbackKeyDays: number;
    /** Finished webhook deliveries (the delivery log) are kept this long; retries end within about a day. */
    webhookDeliveryDays: number;
    orphanFileDays: number;
  };
  stuckTaskMinutes: number;
  rollupHoursBack: number;
}

export class ConfigError extends Error {}

export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  if (source.NODE_ENV === 'production') {
    // A cluster deployment names its nodes instead of one Redis URL.
    const missing = PRODUCTION_REQUIRED.find((name) => !source[name] && !(name === 'REDIS_URL' && source.REDIS_CLUSTER_NODES));
    if (missing) throw new ConfigError(`invalid configuration: ${missing}: must be set in production`);
    const published = Object.keys(PUBLISHED_SECRET_DEFAULTS).find((name) => source[name] !== undefined && PUBLISHED_SECRET_DEFAULTS[name].includes(source[name]!));
    if (published) throw new ConfigError(`invalid configuration: ${published}: is the published development value; set a secret of your own in production`);
  }
  const parsed = configSchema.safeParse(source);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`invalid configuration: ${issue.path.join('.')}: ${issue.message}`);
  }
  const e = parsed.data;
  const publicUrl = e.PUBLIC_URL ?? `http://127.0.0.1:${e.PORT}`;
  return Object.freeze({
    env: e.NODE_ENV,
    http: {
      host: e.HOST,
      port: e.PORT,
      publicUrl,
      corsOrigins: e.CORS_ORIGINS.split(',').map((s) => s.trim()),
      bodyLimit: e.BODY_LIMIT,
      trustProxy: e.TRUST_PROXY ?? [],
      metricsToken: e.METRICS_TOKEN,
    },
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    db: {
      host: e.DB_HOST,
      port: e.DB_PORT,
      user: e.DB_USER,
      password: e.DB_PASSWORD,
      database: e.DB_NAME,
      poolMax: e.DB_POOL_MAX,
    },
    dbRead: e.DB_READ_HOST
      ? {
          host: e.DB_READ_HOST,
          port: e.DB_READ_PORT ?? e.DB_PORT,
          user: e.DB_READ_USER ?? e.DB_USER,
          password: e.DB_READ_PASSWORD ?? e.DB_PASSWORD,
          database: e.DB_NAME,
          poolMax: e.DB_READ_POOL_MAX,
          maxLagSeconds: e.DB_READ_MAX_LAG_SECONDS,
          checkMs: e.DB_READ_CHECK_MS,
        }
      : undefined,
    redis: { url: e.REDIS_URL, prefix: e.REDIS_PREFIX, clusterNodes: parseClusterNodes(e.REDIS_CLUSTER_NODES), shards: e.REDIS_SHARDS },
    auth: {
      jwtSecret: e.JWT_SECRET,
      accessTokenTtl: e.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtl: e.REFRESH_TOKEN_TTL_SECONDS,
      maxFailures: e.LOGIN_MAX_FAILURES,
      lockSeconds: e.LOGIN_LOCK_SECONDS,
      loginRatePerMinute: e.LOGIN_RATE_LIMIT_PER_MINUTE,
      hashMemoryKib: e.PASSWORD_HASH_MEMORY_KIB,
      hashTimeCost: e.PASSWORD_HASH_TIME_COST,
      platformAdmin: { username: e.PLATFORM_ADMIN_USERNAME, password: e.PLATFORM_ADMIN_PASSWORD },
    },
    gateway: {
      url: e.GATEWAY_URL,
      apiKey: e.GATEWAY_API_KEY,
      timeoutMs: e.GATEWAY_TIMEOUT_MS,
      batchSends: e.GATEWAY_BATCH_SENDS,
      connections: e.GATEWAY_CONNECTIONS,
      callbackSecret: e.GATEWAY_CALLBACK_SECRET,
      callbackToleranceSeconds: e.CALLBACK_TOLERANCE_SECONDS,
      callbackUrl: e.CALLBACK_URL ?? `${publicUrl}/callbacks/gateway`,
    },
    simulator: {
      host: e.SIMULATOR_HOST,
      listenHost: e.SIMULATOR_LISTEN_HOST,
      port: e.SIMULATOR_PORT,
      autoLogin: e.SIMULATOR_AUTO_LOGIN,
      autoLoginDelayMs: e.SIMULATOR_AUTO_LOGIN_DELAY_MS,
      qrTtlSeconds: e.SIMULATOR_QR_TTL_SECONDS,
      sendRatePerMinute: e.SIMULATOR_SEND_RATE_PER_MINUTE,
      controlToken: e.SIMULATOR_CONTROL_TOKEN,
    },
    sending: { pacingMarginPct: e.SEND_PACING_MARGIN_PCT, reconcileAfterSeconds: e.RECONCILE_AFTER_SECONDS, useCountedAt: e.SEND_PACING_COUNTED_AT === 'use' },
    official: {
      apiBase: e.WECOM_API_BASE.replace(/\/+$/, ''),
      timeoutMs: e.WECOM_API_TIMEOUT_MS,
      tokenRefreshMarginSeconds: e.WECOM_TOKEN_REFRESH_MARGIN_SECONDS,
      apiCallsPerMinute: e.WECOM_API_CALLS_PER_MINUTE,
      memberMessagesPerMinute: e.WECOM_MEMBER_MESSAGES_PER_MINUTE,
      memberMessagesPerHour: e.WECOM_MEMBER_MESSAGES_PER_HOUR,
      customerReceiveLimit: e.WECOM_CUSTOMER_RECEIVE_LIMIT,
      customerReceivePeriodSeconds: e.WECOM_CUSTOMER_RECEIVE_PERIOD_SECONDS,
      rateLimitBackoffMs: e.WECOM_RATE_LIMIT_BACKOFF_MS,
      pollAfterSeconds: e.WECOM_POLL_AFTER_SECONDS,
    },
    webhooks: {
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      retryBaseMs: e.WEBHOOK_RETRY_BASE_MS,
      maxAttempts: e.WEBHOOK_MAX_ATTEMPTS,
      concurrency: e.WEBHOOK_CONCURRENCY,
      endpointConcurrency: e.WEBHOOK_ENDPOINT_CONCURRENCY,
      rotationOverlapSeconds: e.WEBHOOK_ROTATION_OVERLAP_SECONDS,
      ssrf: { allowPrivate: e.WEBHOOK_ALLOW_PRIVATE, allowed: parseAllowList(e.WEBHOOK_ALLOWED_CIDRS) },
    },
    channels: {
      defaultChannel: e.DEFAULT_ACCOUNT_CHANNEL,
      keyRing: e.CHANNEL_SECRET_KEYS ? parseKeyRing(e.CHANNEL_SECRET_KEYS) : developmentKeyRing(),
    },
    wechaty: {
      gatewayUrl: e.WECHATY_GATEWAY_URL ?? `http://${e.WECHATY_GATEWAY_HOST}:${e.WECHATY_GATEWAY_PORT}`,
      host: e.WECHATY_GATEWAY_HOST,
      listenHost: e.WECHATY_GATEWAY_LISTEN_HOST,
      port: e.WECHATY_GATEWAY_PORT,
      apiKey: e.WECHATY_GATEWAY_API_KEY,
      cacheDir: e.WECHATY_CACHE_DIR,
      loginWaitMs: e.WECHATY_LOGIN_WAIT_MS,
      sendTimeoutMs: e.WECHATY_SEND_TIMEOUT_MS,
      batchSends: e.WECHATY_BATCH_SENDS,
      reconnectBaseMs: e.WECHATY_RECONNECT_BASE_MS,
      reconnectMaxMs: e.WECHATY_RECONNECT_MAX_MS,
      heartbeatTimeoutSeconds: e.WECHATY_HEARTBEAT_TIMEOUT_SECONDS,
      keepaliveSeconds: e.WECHATY_KEEPALIVE_SECONDS,
      qrTtlSeconds: e.WECHATY_QR_TTL_SECONDS,
      leaseMs: e.WECHATY_LEASE_MS,
      advertiseUrl: e.WECHATY_GATEWAY_ADVERTISE_URL ?? `http://${e.WECHATY_GATEWAY_HOST}:${e.WECHATY_GATEWAY_PORT}`,
    },
    accounts: {
      loginTimeoutSeconds: e.ACCOUNT_LOGIN_TIMEOUT_SECONDS,
      loginPollMs: e.ACCOUNT_LOGIN_POLL_MS,
      recoveryBaseDelayMs: e.ACCOUNT_RECOVERY_BASE_DELAY_MS,
      recoveryMaxDelayMs: e.ACCOUNT_RECOVERY_MAX_DELAY_MS,
      recoveryMaxRetries: e.ACCOUNT_RECOVERY_MAX_RETRIES,
    },
    influx: { url: e.INFLUX_URL, token: e.INFLUX_TOKEN, org: e.INFLUX_ORG, bucket: e.INFLUX_BUCKET },
    minio: e.MINIO_ENDPOINT
      ? {
          endPoint: e.MINIO_ENDPOINT,
          port: e.MINIO_PORT,
          useSSL: e.MINIO_USE_SSL,
          accessKey: e.MINIO_ACCESS_KEY,
          secretKey: e.MINIO_SECRET_KEY,
          bucket: e.MINIO_BUCKET,
        }
      : undefined,
    files: { dir: e.FILES_DIR, maxUploadBytes: e.MAX_UPLOAD_BYTES },
    partitions: { monthsAhead: e.PARTITION_MONTHS_AHEAD },
    heartbeatStaleSeconds: e.HEARTBEAT_STALE_SECONDS,
    cronEnabled: e.CRON_ENABLED,
    retention: {
      partitionMonths: {
        messages: e.RETENTION_MESSAGES_MONTHS,
        callback_events: e.RETENTION_CALLBACK_EVENTS_MONTHS,
        account_status_history: e.RETENTION_ACCOUNT_STATUS_HISTORY_MONTHS,
        audit_logs: e.RETENTION_AUDIT_LOGS_MONTHS,
      },
      planMessageDays: Object.fromEntries(
        e.RETENTION_PLAN_MESSAGE_DAYS.split(',').filter(Boolean).map((pair) => {
          const [plan, days] = pair.split(':');
          return [plan, Number(days)];
        }),
      ),
      callbackKeyDays: e.RETENTION_CALLBACK_KEYS_DAYS,
      webhookDeliveryDays: e.RETENTION_WEBHOOK_DELIVERIES_DAYS,
      orphanFileDays: e.ORPHAN_FILE_DAYS,
    },
    stuckTaskMinutes: e.STUCK_TASK_MINUTES,
    rollupHoursBack: e.ROLLUP_HOURS_BACK,
  });
}

/** Environment variable names the service reads; the compose-file test checks deployments against it. */
export const CONFIG_VARIABLES = Object.keys(configSchema._def.schema.shape) as (keyof Env)[];
