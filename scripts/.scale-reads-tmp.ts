import { loadConfig } from '../src/config';
import { createAppContext } from '../src/context';
import { startApiServer } from '../src/server';
import { signAccessToken } from '../src/auth/access-tokens';
import { rollupMessageStatistics, hourStart } from '../src/db/statistics';

const tag = process.env.TAG!;
async function main() {
  const config = loadConfig({ ...process.env, DB_HOST: '127.0.0.1', DB_PORT: process.env.PORT!, DB_USER: 'root', DB_PASSWORD: '', DB_NAME: `wwp_bench_scale_${tag}`, REDIS_PREFIX: `{wwp-bench-scale-${tag}}`, FILES_DIR: `/tmp/wwp-bench-scale-files-${tag}`, LOG_LEVEL: 'warn', CRON_ENABLED: 'false', ACCESS_TOKEN_TTL_SECONDS: '86400' });
  const ctx = createAppContext(config);
  const api = await startApiServer(ctx, 0, '127.0.0.1');
  const t = await ctx.db('batch_send_tasks').orderBy('total_count', 'desc').first();
  const token = signAccessToken(config.auth, { sub: t.creator_id, tid: t.tenant_id, kind: 'user' });
  const get = async (path: string) => {
    const t0 = performance.now();
    const res = await fetch(`${api.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`);
    return { ms: performance.now() - t0, body };
  };
  const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(p * xs.length) - 1)];
  const st = (xs: number[]) => `median ${q(xs, 0.5).toFixed(1)} ms, p95 ${q(xs, 0.95).toFixed(1)} ms (n=${xs.length})`;
  const counts = await ctx.db('messages').where({ batch_id: t.id }).select('status').count({ n: '*' }).groupBy('status');
  console.log(`task ${t.id}: ${counts.map((c: any) => `${c.n} ${c.status}`).join(', ')} (sending meanwhile)`);
  const prog: number[] = [];
  for (let i = 0; i < 30; i += 1) prog.push((await get(`/api/v1/tasks/${t.id}/progress`)).ms);
  console.log(`progress snapshot: ${st(prog)}`);
  const tk: number[] = [];
  for (let i = 0; i < 30; i += 1) tk.push((await get(`/api/v1/tasks/${t.id}`)).ms);
  console.log(`GET /tasks/:id (counters): ${st(tk)}`);
  for (const status of ['failed', null]) {
    const base = `/api/v1/messages?task_id=${t.id}&limit=50${status ? `&status=${status}` : ''}`;
    const first: number[] = [];
    for (let i = 0; i < 10; i += 1) first.push((await get(base)).ms);
    let cursor: string | null = null;
    for (let page = 1; page < 100; page += 1) {
      const r = await get(cursor ? `${base}&cursor=${cursor}` : base);
      cursor = r.body.next_cursor as string | null;
      if (!cursor) break;
    }
    const h: number[] = [];
    if (cursor) for (let i = 0; i < 10; i += 1) h.push((await get(`${base}&cursor=${cursor}`)).ms);
    console.log(`recipient list ${status ?? 'all'}: page 1 ${st(first)}; page 100 ${h.length ? st(h) : 'n/a'}`);
  }
  const rss0 = process.resourceUsage().maxRSS;
  const t0 = Date.now();
  const res = await fetch(`${api.url}/api/v1/tasks/${t.id}/report`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as any;
  console.log(`report export: ${((Date.now() - t0) / 1000).toFixed(1)} s, ${res.status}, ${(body.file?.size_bytes / 1048576).toFixed(0)} MB; process peak RSS ${Math.round(rss0 / 1024)} MB before, ${Math.round(process.resourceUsage().maxRSS / 1024)} MB after`);
  const r0 = Date.now();
  const rolled = await rollupMessageStatistics(ctx.db, hourStart(t.start_time), new Date(hourStart(t.start_time).getTime() + 3_600_000));
  console.log(`hourly roll-up of the task's hour: ${((Date.now() - r0) / 1000).toFixed(2)} s (${rolled.groups} groups)`);
  await api.close();
  await ctx.close();
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
