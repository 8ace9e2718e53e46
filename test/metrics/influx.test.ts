import { createServer, type Server, type Socket } from 'node:net';
import { metricsSamplerJob } from '../../src/cron/jobs/metrics-sampler';
import { runJobOnce } from '../../src/cron/runner';
import { InfluxMetricsSink } from '../../src/metrics/influx';
import { metricsPointsDropped } from '../../src/metrics/prometheus';
import { noopMetricsSink } from '../../src/metrics/sink';
import { QUEUE } from '../../src/queues/names';
import { createAppContext } from '../../src/context';
import { createTestEnv, testConfig, type TestEnv } from '../helpers/env';
import { freePort } from '../helpers/ports';
import { waitFor } from '../helpers/wait';
import { startVictoria, type Victoria } from './victoria';

let vm: Victoria;
let env: TestEnv;
beforeAll(async () => {
  vm = await startVictoria();
  env = await createTestEnv('influx', { env: { INFLUX_URL: vm.url, INFLUX_ORG: 'wework', INFLUX_BUCKET: 'wework', INFLUX_TOKEN: 'unused' } });
});
afterAll(async () => {
  await env?.close();
  await vm?.stop();
});

async function dropped(reason: 'buffer_full' | 'write_failed'): Promise<number> {
  const m = await metricsPointsDropped.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

test('metrics are off (no-op sink) when INFLUX_URL is not configured', async () => {
  const config = testConfig('noinflux');
  expect(config.influx.url).toBeUndefined();
  const ctx = createAppContext(config);
  try {
    expect(ctx.metrics).toBe(noopMetricsSink);
  } finally {
    await ctx.close();
  }
  // … and on with it: this file's context writes to victoria-metrics.
  expect(env.ctx.metrics).toBeInstanceOf(InfluxMetricsSink);
});

test('send, callback-lag, cron-run and gauge points reach victoria-metrics with their tags', async () => {
  const m = env.ctx.metrics;
  m.recordSend({ tenantId: 't-1', accountId: 'a-1', status: 'sent', latencyMs: 120 });
  m.recordSend({ tenantId: 't-1', accountId: 'a-1', status: 'sent', latencyMs: 80 });
  m.recordSend({ tenantId: 't-1', accountId: 'a-2', status: 'failed', latencyMs: 300 });
  m.recordCallbackLag({ tenantId: 't-1', eventType: 'message.delivered', lagMs: 42 });
  m.recordCronRun({ job: 'probe', outcome: 'success', durationMs: 7 });
  m.gauge('accounts_online', 3, { tenant: 't-1' });
  await m.flush();

  const latency = await waitFor(() => vm.exportSeries('{__name__="message_send_latency_ms"}'), 'two send latency series with three points', {
    until: (s) => s.length === 2 && s.reduce((n, x) => n + x.values.length, 0) === 3,
  });
  const sent = latency.find((s) => s.metric.status === 'sent')!;
  expect(sent.metric).toMatchObject({ tenant: 't-1', account: 'a-1', status: 'sent' });
  expect(sent.values.sort((a, b) => a - b)).toEqual([80, 120]);
  expect(latency.find((s) => s.metric.status === 'failed')!.metric).toMatchObject({ account: 'a-2' });
  const counts = await vm.exportSeries('{__name__="message_send_count"}');
  expect(counts.reduce((n, s) => n + s.values.reduce((a, b) => a + b, 0), 0)).toBe(3);

  const lag = await waitFor(async () => (await vm.exportSeries('{__name__="callback_lag_lag_ms"}'))[0], 'the callback lag series');
  expect(lag.metric).toMatchObject({ tenant: 't-1', event_type: 'message.delivered' });
  expect(lag.values).toEqual([42]);
  const cron = await waitFor(async () => (await vm.exportSeries('{__name__="cron_run_duration_ms",job="probe"}'))[0], 'the cron run series of the probe job');
  expect(cron.metric.outcome).toBe('success');
  const online = await waitFor(async () => (await vm.exportSeries('{__name__="accounts_online_value"}'))[0], 'the accounts_online gauge series');
  expect(online).toMatchObject({ metric: { tenant: 't-1' }, values: [3] });
});

test('the sampler job writes queue depths and the cron run itself', async () => {
  await env.ctx.queues.get(QUEUE.messageSend).add('probe', { x: 1 }, { delay: 60_000 });
  await env.ctx.queues.get(QUEUE.messageSend).add('probe', { x: 2 });
  const res = await runJobOnce(env.ctx, metricsSamplerJob, new Date());
  expect(res.outcome).toBe('success');
  await env.ctx.metrics.flush();
  const depth = await waitFor(() => vm.exportSeries(`{__name__="queue_depth_value",queue="${QUEUE.messageSend}"}`), 'queue depth series for two states', {
    until: (s) => s.length >= 2,
  });
  expect(depth.find((s) => s.metric.state === 'delayed')!.values).toEqual([1]);
  expect(depth.find((s) => s.metric.state === 'waiting')!.values).toEqual([1]);
  await waitFor(async () => (await vm.exportSeries('{__name__="cron_run_duration_ms",job="metrics-sampler"}'))[0], 'the cron run series of the sampler');
});

describe('InfluxDB outage', () => {
  let blackhole: Server;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    // Accepts connections and never answers: the worst case, a hung InfluxDB.
    blackhole = createServer((s) => {
      sockets.push(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => blackhole.close(r));
  });

  test('a hung InfluxDB never blocks recording: the buffer stays bounded and overflow is counted', async () => {
    const port = (blackhole.address() as { port: number }).port;
    const sink = new InfluxMetricsSink({ url: `http://127.0.0.1:${port}`, token: 't', org: 'o', bucket: 'b', batchSize: 50, maxBufferLines: 200, timeoutMs: 60_000, flushIntervalMs: 50, closeTimeoutMs: 200 });
    const before = await dropped('buffer_full');
    // A first batch goes out and hangs; everything after it only fills the bounded buffer.
    for (let i = 0; i < 5000; i++) sink.recordSend({ tenantId: 't', accountId: 'a', status: 'sent', latencyMs: i });
    expect(sink.buffered).toBeLessThanOrEqual(200);
    expect((await dropped('buffer_full')) - before).toBeGreaterThanOrEqual(5000 - 200 - 50);
    await waitFor(() => sockets.length > 0, 'the hung write to reach the black hole'); // in flight, and hanging
    // Shutdown is bounded too: close() gives up on the hung write after closeTimeoutMs.
    await sink.close();
    expect(sink.buffered).toBe(0);
  });

  test('a refused connection drops the batch, counts it, and flush() still resolves', async () => {
    const port = await freePort(); // nothing listens here
    const sink = new InfluxMetricsSink({ url: `http://127.0.0.1:${port}`, token: 't', org: 'o', bucket: 'b', batchSize: 1000, flushIntervalMs: 60_000 });
    const before = await dropped('write_failed');
    for (let i = 0; i < 30; i++) sink.recordSend({ tenantId: 't', accountId: 'a', status: 'failed' });
    await expect(sink.flush()).resolves.toBeUndefined();
    expect((await dropped('write_failed')) - before).toBe(30);
    expect(sink.buffered).toBe(0);
    await sink.close();
  });
});
