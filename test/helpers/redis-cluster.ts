import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT, runCommand } from './processes';
import { assertServicesAllowed } from './services';

/**
 * A private Redis Cluster (3 masters + 3 replicas, scripts/redis-cluster.sh) on six free consecutive
 * ports (and their bus ports, +10000), in its own directory, for a test file that needs a cluster of its
 * own whatever REDIS_CLUSTER_NODES the run has.
 *
 *   const cluster = await startRedisCluster();
 *   const env = await createTestEnv('x', { env: { REDIS_CLUSTER_NODES: cluster.nodes, REDIS_SHARDS: '6' } });
 *   ...
 *   await cluster.down();
 */
export interface PrivateRedisCluster {
  /** host:port,… for REDIS_CLUSTER_NODES. */
  nodes: string;
  down(): Promise<void>;
}

const SCRIPT = path.join(REPO_ROOT, 'scripts', 'redis-cluster.sh');

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function freeBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 9_000);
    const ports = [0, 1, 2, 3, 4, 5].flatMap((i) => [base + i, base + i + 10_000]);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error('no six consecutive free ports (with their cluster bus ports) for a Redis Cluster');
}

export async function startRedisCluster(): Promise<PrivateRedisCluster> {
  assertServicesAllowed('startRedisCluster');
  const base = await freeBasePort();
  const env = { ...process.env, REDIS_CLUSTER_PORT: String(base), REDIS_CLUSTER_DIR: mkdtempSync(path.join(tmpdir(), 'wwp-rcluster-')) };
  const run = (cmd: string) => runCommand('bash', [SCRIPT, cmd], { env, timeout: 120_000 });
  try {
    await run('up');
  } catch (err) {
    await run('down').catch(() => undefined);
    throw err;
  }
  const nodes = (await run('nodes')).stdout.trim();
  return {
    nodes,
    down: async () => {
      await run('down');
    },
  };
}
