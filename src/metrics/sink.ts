/**
 * Where the platform's time-series measurements go (InfluxDB when configured). Every method is
 * fire-and-forget and O(1): callers on hot paths (sending, callbacks) never wait on, or fail because of,
 * the metrics backend.
 */
export interface SendMetric {
  tenantId: string;
  accountId: string;
  /** Outcome of the attempt: sent, delivered, failed, retry, rate_limited … */
  status: string;
  /** Time from the message being queued (created) to the gateway's answer, in ms. */
  latencyMs?: number;
}

export interface CallbackLagMetric {
  tenantId?: string | null;
  eventType: string;
  /** Time from the gateway event (or receipt) to it being applied, in ms. */
  lagMs: number;
}

export interface CronRunMetric {
  job: string;
  outcome: 'success' | 'failed' | 'skipped';
  durationMs: number;
}

export interface MetricsSink {
  /** measurement `message_send` (tags tenant, account, status; fields count, latency_ms). */
  recordSend(m: SendMetric): void;
  /** measurement `callback_lag` (tags tenant, event_type; field lag_ms). */
  recordCallbackLag(m: CallbackLagMetric): void;
  /** measurement `cron_run` (tags job, outcome; field duration_ms). */
  recordCronRun(m: CronRunMetric): void;
  /** Any sampled value: measurement `name`, field `value`, e.g. gauge('queue_depth', 12, {queue, state}). */
  gauge(name: string, value: number, tags?: Record<string, string>): void;
  /** Sends what is buffered now (best effort; never throws). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Used when InfluxDB is not configured: measurements are discarded. */
export const noopMetricsSink: MetricsSink = {
  recordSend: () => undefined,
  recordCallbackLag: () => undefined,
  recordCronRun: () => undefined,
  gauge: () => undefined,
  flush: async () => undefined,
  close: async () => undefined,
};
