import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { freePort } from '../helpers/ports';
import { waitFor } from '../helpers/wait';

/**
 * A private victoria-metrics process (Debian package, installed by scripts/ensure-test-peers.sh) on a
 * random loopback port with a temporary storage directory, for one test file. It accepts the InfluxDB
 * v2 write API at /api/v2/write; measurements come back as `<measurement>_<field>` series.
 */
export interface Victoria {
  url: string;
  /** Makes recently written samples searchable, then exports series matching the selector. */
  exportSeries(selector: string): Promise<Array<{ metric: Record<string, string>; values: number[] }>>;
  stop(): Promise<void>;
}

export async function startVictoria(): Promise<Victoria> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'wwp-vm-'));
  const child: ChildProcess = spawn(
    'victoria-metrics',
    [`-httpListenAddr=127.0.0.1:${port}`, `-storageDataPath=${dir}`, '-retentionPeriod=1y', '-search.latencyOffset=0s', '-loggerLevel=ERROR'],
    { stdio: 'ignore' },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) return 'exited';
      const res = await request(`${url}/health`);
      await res.body.text();
      return res.statusCode;
    },
    'victoria-metrics to answer /health',
    { until: (s) => s === 200 || s === 'exited', intervalMs: 100 },
  ).then((s) => {
    if (s === 'exited') throw new Error('victoria-metrics exited at start-up');
  });
  return {
    url,
    async exportSeries(selector) {
      await (await request(`${url}/internal/force_flush`)).body.text();
      const res = await request(`${url}/api/v1/export?match[]=${encodeURIComponent(selector)}`);
      const text = await res.body.text();
      return text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { metric: Record<string, string>; values: number[] });
    },
    async stop() {
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
