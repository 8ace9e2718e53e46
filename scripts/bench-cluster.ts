/**
 * `npm run bench:cluster` — the sending pipeline on a real Redis Cluster (issue 14), against a cluster
 * brought up by scripts/redis-cluster.sh (or the one REDIS_CLUSTER_NODES names), each figure next to a
 * baseline measured in the same run. Both parts run `bench:send` case 1 (a 100,000-target unthrottled
 * task, CSV import, every status persisted, run by a worker process) as a child with different Redis
 * settings, and print the machine's load averages around every run.
 *
 *  1. Operations per master: the task over BENCH_CLUSTER_ACCOUNTS (1,000) accounts with REDIS_SHARDS =
 *     BENCH_CLUSTER_SHARDS (12); `INFO commandstats` of every master before and after, diffed: each
 *     master's share of all calls and its busiest commands. Target: no master above 40%.
 *  2. Cluster vs single Redis: case 1 with bench:send's defaults (4 accounts × 16 lanes) on the single
 *     Redis (REDIS_URL) and on the cluster (REDIS_SHARDS = BENCH_CLUSTER_SHARDS), interleaved in
 *     BENCH_ROUNDS (3) rounds (single, cluster, single, …); median of cluster / single msg/s. Target ≥ 0.9.
 *
 * Env: BENCH_TARGETS (100000), BENCH_CLUSTER_ACCOUNTS (1000), BENCH_CLUSTER_SHARDS (12), BENCH_ROUNDS (3),
 * BENCH_CLUSTER_PARTS (1,2), REDIS_CLUSTER_NODES (else the script's cluster on REDIS_CLUSTER_PORT, 7000).
 */
import 'dotenv/config';
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import Redis from 'ioredis';
import { loadAverage, median } from './lib/bench-figures';

const TARGETS = Number(process.env.BENCH_TARGETS ?? 100_000);
const ACCOUNTS = Number(process.env.BENCH_CLUSTER_ACCOUNTS ?? 1_000);
const SHARDS = Number(process.env.BENCH_CLUSTER_SHARDS ?? 12);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const PARTS = new Set((process.env.BENCH_CLUSTER_PARTS ?? '1,2').split(',').map((s) => s.trim()));
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const load = () => loadAverage();

function clusterNodes(): string {
  if (process.env.REDIS_CLUSTER_NODES) return process.env.REDIS_CLUSTER_NODES;
  const script = path.join(__dirname, 'redis-cluster.sh');
  execFileSync('bash', [script, 'up'], { stdio: 'inherit' });
  return execFileSync('bash', [script, 'nodes'], { encoding: 'utf8' }).trim();
}

/** Runs bench:send case 1 once (one round) with `env`; answers the pipeline's msg/s of the big task. */
function benchSend(env: Record<string, string>): Promise<{ rate: number; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'bench-send.ts')], {
      env: { ...process.env, BENCH_CASES: '1', BENCH_ROUNDS: '1', BENCH_TARGETS: String(TARGETS), ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.on('exit', (code) => {
      const lines = out.split('\n');
      const m = /round 1: pipeline ([\d,]+) msg\/s/.exec(out);
      if (code !== 0 || !m) return reject(new Error(`bench:send exited ${code}:\n${out}`));
      resolve({ rate: Number(m[1].replace(/,/g, '')), lines: lines.filter((l) => /round 1:|counters:/.test(l)).map((l) => l.trim()) });
    });
  });
}

/** Calls per command on one node, from INFO commandstats. */
async function commandStats(host: string, port: number): Promise<Map<string, number>> {
  const r = new Redis({ host, port });
  try {
    const info = await r.info('commandstats');
    const out = new Map<string, number>();
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1], Number(m[2]));
    return out;
  } finally {
    r.disconnect();
  }
}

async function masters(nodes: string): Promise<Array<{ host: string; port: number }>> {
  const [host, port] = nodes.split(',')[0].split(':');
  const r = new Redis({ host, port: Number(port) });
  try {
    const lines = String(await r.call('CLUSTER', 'NODES')).trim().split('\n');
    return lines
      .filter((l) => / master /.test(` ${l.split(' ')[2].replace(/,/g, ' ')} `) && !l.includes('fail'))
      .map((l) => {
        const addr = l.split(' ')[1].split('@')[0];
        const i = addr.lastIndexOf(':');
        return { host: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
      })
      .sort((a, b) => a.port - b.port);
  } finally {
    r.disconnect();
  }
}

async function main(): Promise<void> {
  const nodes = clusterNodes();
  const cluster = { REDIS_CLUSTER_NODES: nodes, REDIS_SHARDS: String(SHARDS) };
  console.log(`bench:cluster — cluster ${nodes}, REDIS_SHARDS=${SHARDS}, ${fmt(TARGETS)} targets`);

  if (PARTS.has('1')) {
    console.log(`\n1. operations per master: ${fmt(TARGETS)}-target task over ${fmt(ACCOUNTS)} accounts (1 lane each)`);
    console.log(`   before: ${load()}`);
    const ms = await masters(nodes);
    const before = await Promise.all(ms.map((m) => commandStats(m.host, m.port)));
    const run = await benchSend({ ...cluster, BENCH_ACCOUNTS: String(ACCOUNTS), BENCH_LANES: '1' });
    const after = await Promise.all(ms.map((m) => commandStats(m.host, m.port)));
    const diffs = after.map((a, i) => new Map([...a].map(([cmd, n]) => [cmd, n - (before[i].get(cmd) ?? 0)])));
    const totals = diffs.map((d) => [...d.values()].reduce((s, n) => s + n, 0));
    const all = totals.reduce((s, n) => s + n, 0);
    for (const l of run.lines) console.log(`   ${l}`);
    ms.forEach((m, i) => {
      const top = [...diffs[i]].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([c, n]) => `${c} ${fmt(n)}`).join(', ');
      console.log(`   master ${m.host}:${m.port}: ${fmt(totals[i])} calls, ${((totals[i] / all) * 100).toFixed(1)}% (${top})`);
    });
    const worst = Math.max(...totals) / all;
    console.log(`   busiest master ${(worst * 100).toFixed(1)}% of ${fmt(all)} calls (target ≤ 40%)`);
    console.log(`   after: ${load()}`);
  }

  if (PARTS.has('2')) {
    console.log(`\n2. bench:send case 1 (4 accounts × 16 lanes), single Redis vs cluster, ${ROUNDS} interleaved rounds`);
    console.log(`   before: ${load()}`);
    const ratios: number[] = [];
    const singles: number[] = [];
    const clusters: number[] = [];
    for (let round = 1; round <= ROUNDS; round += 1) {
      const single = await benchSend({ REDIS_CLUSTER_NODES: '', REDIS_SHARDS: '1' });
      const onCluster = await benchSend(cluster);
      singles.push(single.rate);
      clusters.push(onCluster.rate);
      ratios.push(onCluster.rate / single.rate);
      console.log(`   round ${round}: single ${fmt(single.rate)} msg/s, cluster ${fmt(onCluster.rate)} msg/s, ratio ${(onCluster.rate / single.rate).toFixed(2)}; ${load()}`);
    }
    console.log(`   median: single ${fmt(median(singles))} msg/s, cluster ${fmt(median(clusters))} msg/s; median ratio cluster / single = ${median(ratios).toFixed(2)} (target ≥ 0.9)`);
    console.log(`   after: ${load()}`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
