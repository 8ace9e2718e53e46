import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One Prometheus registry per process, exposed at /metrics. */
export const promRegistry = new Registry();
collectDefaultMetrics({ register: promRegistry });

export const httpRequestDuration = new Histogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP request duration by route and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [promRegistry],
});

export const callbacksRejected = new Counter({
  name: 'callbacks_rejected_total',
  help: 'Callback requests refused before storage, by reason',
  labelNames: ['reason'] as const,
  registers: [promRegistry],
});

/** InfluxDB points discarded instead of slowing the process (buffer full while InfluxDB is slow, or a failed write). */
export const metricsPointsDropped = new Counter({
  name: 'metrics_points_dropped_total',
  help: 'InfluxDB points dropped, by reason (buffer_full, write_failed, shutdown)',
  labelNames: ['reason'] as const,
  registers: [promRegistry],
});

export const metricsPointsWritten = new Counter({
  name: 'metrics_points_written_total',
  help: 'InfluxDB points written successfully',
  registers: [promRegistry],
});

/** Seconds the read replica is behind the primary at its last check (NaN when unknown or down). */
export const replicaLagSeconds = new Gauge({
  name: 'db_replica_lag_seconds',
  help: 'Read replica lag behind the primary at the last check (NaN: unknown, replica down)',
  registers: [promRegistry],
});

/** 1 while list, report and export reads go to the replica; 0 while they fall back to the primary. */
export const replicaServingReads = new Gauge({
  name: 'db_replica_serving_reads',
  help: '1 while the read replica serves lag-tolerant reads, 0 while they go to the primary',
  registers: [promRegistry],
});
