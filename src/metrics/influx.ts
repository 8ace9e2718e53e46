import { InfluxDB, Point, type WriteApi } from '@influxdata/influxdb-client';
import type { Config } from '../config';
import { logger } from '../logger';
import { metricsPointsDropped, metricsPointsWritten } from './prometheus';
import { noopMetricsSink, type CallbackLagMetric, type CronRunMetric, type MetricsSink, type SendMetric } from './sink';

export interface InfluxSinkOptions {
  url: string;
  token: string;
  org: string;
  bucket: string;
  /** Lines per write request. */
  batchSize?: number;
  /** How often buffered lines are sent even when fewer than a batch. */
  flushIntervalMs?: number;
  /** Upper bound of lines held in memory; beyond it new points are dropped (and counted). */
  maxBufferLines?: number;
  /** HTTP timeout of one write. */
  timeoutMs?: number;
  /** How long close() waits for the last writes. */
  closeTimeoutMs?: number;
}

/**
 * Batches points in a bounded in-memory buffer and writes them with the official client's WriteApi,
 * one request in flight at a time. The client's own batching would start a new request per full batch
 * even while earlier ones hang, so the bound is kept here: recording is an array push, an outage or a
 * slow InfluxDB only fills the buffer, and points beyond `maxBufferLines` (or in a failed write) are
 * dropped and counted in `metrics_points_dropped_total`. A failed write is not retried: metrics are
 * samples, and retrying would let an outage pile up work.
 */
export class InfluxMetricsSink implements MetricsSink {
  private readonly writeApi: WriteApi;
  private readonly batchSize: number;
  private readonly maxBufferLines: number;
  private readonly closeTimeoutMs: number;
  private buffer: string[] = [];
  private inFlight: Promise<void> | undefined;
  private lastWriteFailed = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;

  constructor(opts: InfluxSinkOptions) {
    this.batchSize = opts.batchSize ?? 1000;
    this.maxBufferLines = opts.maxBufferLines ?? 20_000;
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 3000;
    const client = new InfluxDB({ url: opts.url, token: opts.token, timeout: opts.timeoutMs ?? 5000 });
    this.writeApi = client.getWriteApi(opts.org, opts.bucket, 'ms', {
      // Larger than any batch drain() hands over, so the WriteApi only sends when drain() flushes it.
      batchSize: this.batchSize + 1,
      flushInterval: 0,
      maxRetries: 0,
      maxBufferLines: this.batchSize,
      writeFailed: (error, lines) => {
        this.lastWriteFailed = true;
        metricsPointsDropped.inc({ reason: 'write_failed' }, lines.length);
        logger.debug({ err: error.message, lines: lines.length }, 'influx write failed; points dropped');
        return Promise.resolve(); // handled: no retry, flush() resolves
      },
      writeSuccess: (lines) => metricsPointsWritten.inc(lines.length),
    });
    this.timer = setInterval(() => this.kick(), opts.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  recordSend(m: SendMetric): void {
    const p = new Point('message_send').tag('tenant', m.tenantId).tag('account', m.accountId).tag('status', m.status).intField('count', 1);
    if (m.latencyMs !== undefined && Number.isFinite(m.latencyMs)) p.floatField('latency_ms', m.latencyMs);
    this.push(p);
  }

  recordCallbackLag(m: CallbackLagMetric): void {
    const p = new Point('callback_lag').tag('event_type', m.eventType).floatField('lag_ms', m.lagMs);
    if (m.tenantId) p.tag('tenant', m.tenantId);
    this.push(p);
  }

  recordCronRun(m: CronRunMetric): void {
    this.push(new Point('cron_run').tag('job', m.job).tag('outcome', m.outcome).floatField('duration_ms', m.durationMs));
  }

  gauge(name: string, value: number, tags: Record<string, string> = {}): void {
    if (!Number.isFinite(value)) return;
    const p = new Point(name).floatField('value', value);
    for (const [k, v] of Object.entries(tags)) p.tag(k, v);
    this.push(p);
  }

  /** Lines waiting to be written (for tests and the queue-depth job's own sanity). */
  get buffered(): number {
    return this.buffer.length;
  }

  async flush(): Promise<void> {
    // Wait for a running drain, then drain what is left (once: a failing InfluxDB is not hammered).
    await this.inFlight;
    this.lastWriteFailed = false;
    this.kick();
    await this.inFlight;
  }

  /** Flushes what it can within `closeTimeoutMs` (a hung InfluxDB must not hold up shutdown); the rest is dropped and counted. */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    const deadline = () =>
      new Promise<void>((resolve) => {
        setTimeout(resolve, this.closeTimeoutMs).unref();
      });
    await Promise.race([this.flush().catch(() => undefined), deadline()]);
    this.closed = true;
    if (this.buffer.length) metricsPointsDropped.inc({ reason: 'shutdown' }, this.buffer.length);
    this.buffer = [];
    await Promise.race([this.writeApi.close().catch(() => undefined), deadline()]);
  }

  private push(point: Point): void {
    if (this.closed) return;
    point.timestamp(new Date());
    const line = point.toLineProtocol(this.writeApi);
    if (!line) return;
    if (this.buffer.length >= this.maxBufferLines) {
      metricsPointsDropped.inc({ reason: 'buffer_full' });
      return;
    }
    this.buffer.push(line);
    if (this.buffer.length >= this.batchSize && !this.lastWriteFailed) this.kick();
  }

  private kick(): void {
    if (this.inFlight || this.closed || this.buffer.length === 0) return;
    this.lastWriteFailed = false;
    this.inFlight = this.drain().finally(() => {
      this.inFlight = undefined;
    });
  }

  /** Writes batch after batch until the buffer is short of a batch or a write fails (then wait for the timer). */
  private async drain(): Promise<void> {
    do {
      const batch = this.buffer.splice(0, this.batchSize);
      this.writeApi.writeRecords(batch);
      try {
        await this.writeApi.flush();
      } catch (err) {
        this.lastWriteFailed = true;
        metricsPointsDropped.inc({ reason: 'write_failed' }, batch.length);
        logger.debug({ err: (err as Error).message }, 'influx flush failed');
      }
    } while (!this.lastWriteFailed && this.buffer.length >= this.batchSize);
  }
}

/** The sink for this process: InfluxDB when INFLUX_URL is set, otherwise a no-op. */
export function createMetricsSink(config: Config['influx']): MetricsSink {
  if (!config.url) return noopMetricsSink;
  return new InfluxMetricsSink({ url: config.url, token: config.token, org: config.org, bucket: config.bucket });
}
