/**
 * `npx tsx scripts/bench-task-create.ts` — how long one `POST /tasks` holds the event loop (issue 8,
 * finding 9: 10,000 targets with 1,000 placeholders held it 3.2 s).
 *
 * Runs the real API in this process (own throw-away database and Redis prefix) and measures the event
 * loop's longest stall (perf_hooks.monitorEventLoopDelay) around each request. The baseline is the
 * previous validation (every target rendered in full, as the route did before) on the same bodies, in
 * the same process, interleaved round by round with the requests, so background load hits both alike.
 *
 * Env: BENCH_ROUNDS (3), plus the usual DB_* / REDIS_URL.
 */
import 'dotenv/config';
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { request } from 'undici';
import { signAccessToken } from '../src/auth/access-tokens';
import { hashPassword } from '../src/auth/passwords';
import { loadConfig } from '../src/config';
import { createAppContext } from '../src/context';
import { newId } from '../src/db/ids';
import { dropDatabase, ensureDatabase } from '../src/db/knex';
import { prepareDatabase } from '../src/db/migrator';
import { assignRole } from '../src/db/roles';
import { insertTenant } from '../src/db/tenants';
import { insertUser } from '../src/db/users';
import { logger } from '../src/logger';
import { startApiServer } from '../src/server';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TARGETS = 10_000;

/** The longest event-loop stall (ms) while `work` runs. */
async function stallOf(work: () => Promise<unknown> | unknown): Promise<{ maxMs: number; result: unknown }> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  // The histogram records from its second tick on (also after a reset): let it tick before the work starts.
  await new Promise((r) => setTimeout(r, 30));
  const result = await work();
  await new Promise((r) => setTimeout(r, 20));
  h.disable();
  return { maxMs: h.max / 1e6, result };
}

/** The previous renderer (before compileTemplate), verbatim in effect: scan, resolve and replace per call. */
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_.-]{0,63})\s*\}\}/g;
function previousRender(text: string, values: Record<string, string>): string {
  const used = [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1]))];
  const resolved = new Map<string, string>();
  const missing: string[] = [];
  for (const name of used) {
    const value = values[name];
    if (value !== undefined) resolved.set(name, String(value));
    else missing.push(name);
  }
  if (missing.length) throw new Error(`missing template variables: ${missing.join(', ')}`);
  return text.replace(PLACEHOLDER, (_m, name: string) => resolved.get(name) ?? '');
}

/** The route's check before this change: every target rendered in full, as the route did. */
function legacyCheck(text: string, shared: Record<string, string>, targets: Array<{ variables: Record<string, string> }>): number {
  let problems = 0;
  for (const t of targets) {
    try {
      previousRender(text, { ...shared, ...t.variables });
    } catch {
      problems++;
    }
  }
  return problems;
}

async function main(): Promise<void> {
  logger.level = 'silent';
  const name = `bench_task_${randomBytes(4).toString('hex')}`;
  const config = loadConfig({ ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'silent', DB_NAME: name, REDIS_PREFIX: `{${name}}`, PASSWORD_HASH_MEMORY_KIB: '1024', PASSWORD_HASH_TIME_COST: '1' });
  await ensureDatabase(config.db);
  const ctx = createAppContext(config);
  try {
    await prepareDatabase(ctx.db, config.partitions.monthsAhead);
    const api = await startApiServer(ctx, 0, '127.0.0.1');
    const { token, accountId } = await ctx.db.transaction(async (trx) => {
      const { id: tenantId, roleIds } = await insertTenant(trx, { tenantCode: name.replace(/_/g, '-'), tenantName: 'bench' });
      const userId = await insertUser(trx, { tenantId, username: 'bench', email: 'bench@example.test', passwordHash: await hashPassword(config.auth, 'bench password') });
      await assignRole(trx, userId, roleIds.admin, userId);
      const id = newId();
      await trx('wework_accounts').insert({ id, tenant_id: tenantId, account_name: 'bench', guid: `g-${id}`, status: 'offline' });
      return { token: signAccessToken(config.auth, { sub: userId, tid: tenantId, kind: 'user' }), accountId: id };
    });

    const cases = [1000, 100].map((placeholders) => {
      // Short names, no separators: 1,000 placeholders fit the 8,000-character text.
      const names = Array.from({ length: placeholders }, (_, i) => `p${i.toString(36)}`);
      const content = { type: 'text', text: names.map((n) => `{{${n}}}`).join('') };
      const shared = Object.fromEntries(names.slice(0, -1).map((n) => [n, 'x']));
      const targets = Array.from({ length: TARGETS }, (_, i) => ({ conversation_id: `c${i}`, variables: { [names[names.length - 1]]: `t${i}` } }));
      const body = JSON.stringify({ name: 'bench', account_ids: [accountId], content, variables: shared, target_type: 'manual', targets });
      return { placeholders, content, shared, targets, body, legacy: [] as number[], route: [] as number[], status: 0 };
    });

    for (let round = 0; round < ROUNDS; round++) {
      for (const c of cases) {
        c.legacy.push((await stallOf(() => legacyCheck(c.content.text, c.shared, c.targets))).maxMs);
        const { maxMs, result } = await stallOf(async () => {
          const res = await request(`${api.url}/api/v1/tasks`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: c.body });
          await res.body.text();
          return res.statusCode;
        });
        c.route.push(maxMs);
        c.status = result as number;
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log(`POST /tasks with ${TARGETS} targets: longest event-loop stall, median of ${ROUNDS} interleaved rounds`);
    for (const c of cases) {
      const before = median(c.legacy);
      const after = median(c.route);
      console.log(
        `  ${String(c.placeholders).padStart(4)} placeholders: previous per-target render ${before.toFixed(0)} ms (its validation step alone) | now the whole request ${after.toFixed(0)} ms (answered ${c.status}) | ${(before / after).toFixed(1)}x shorter`,
      );
    }
    await api.close();
  } finally {
    await ctx.close();
    await dropDatabase(config.db);
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
