import { io, type Socket } from 'socket.io-client';

/**
 * The product as an operator meets it, through the public API only: log in, bring a WeCom account
 * online, look at its conversations, write a template, send a batch task to every conversation and
 * watch it finish in realtime. Used by `npm run demo:tour` (against a running service) and by the
 * all-roles end-to-end test (against a spawned one).
 *
 * Needs socket.io-client (a dev dependency): this module is never loaded by the service itself.
 */
export interface TourOptions {
  baseUrl: string;
  tenantCode: string;
  username: string;
  password: string;
  /** Reused when it exists (the tour is safe to run again). */
  accountName?: string;
  templateName?: string;
  /** Per-account send rate of the task; 60/min lets progress be watched without tripping the simulator's limit. */
  ratePerMinute?: number;
  /** Upper bound for each waiting step. */
  stepTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface TourResult {
  accountId: string;
  guid: string | null;
  /** Statuses the account went through during this run, in order (from account.status events). */
  accountStatuses: string[];
  conversations: Array<{ conversation_id: string; conversation_name: string | null; conversation_type: string }>;
  templateId: string;
  preview: Record<string, unknown>;
  taskId: string;
  task: Record<string, any>;
  progressEvents: Array<Record<string, any>>;
  statusEvents: Array<Record<string, any>>;
  messageCounts: Record<string, number>;
}

/** A step of the tour failed; the message says which and why. */
export class TourError extends Error {}

const TERMINAL_TASK = ['completed', 'failed', 'cancelled'];
/** Account states in which a login (the operator's or an automatic recovery) is in progress. */
const LOGIN_UNDER_WAY = ['recovering', 'logging_in', 'waiting_scan', 'waiting_confirm'];

export async function runTour(opts: TourOptions): Promise<TourResult> {
  const log = opts.log ?? (() => undefined);
  const base = opts.baseUrl.replace(/\/+$/, '');
  const stepTimeout = opts.stepTimeoutMs ?? 60_000;
  const accountName = opts.accountName ?? 'Demo account';
  const templateName = opts.templateName ?? 'Demo welcome';

  // 1. Log in as an operator of the tenant.
  const login = await call(base, 'POST', '/api/v1/auth/login', undefined, { tenant_code: opts.tenantCode, username: opts.username, password: opts.password }, 'log in');
  const token = login.access_token as string;
  log(`Logged in to tenant "${opts.tenantCode}" as ${opts.username}.`);
  const api = (method: string, path: string, step: string, body?: unknown) => call(base, method, path, token, body, step);

  // Realtime first, so no event of this run is missed.
  const socket = await connectSocket(base, token);
  const accountStatuses: string[] = [];
  const progressEvents: Array<Record<string, any>> = [];
  const statusEvents: Array<Record<string, any>> = [];
  try {
    log('Connected to realtime updates (Socket.IO).');

    // 2-3. The account, reused or created, brought online (the simulator's auto-login scans the QR code).
    let watched = '';
    socket.on('account.status', (e: { account_id: string; old_status: string; new_status: string; reason: string }) => {
      if (e.account_id !== watched) return;
      accountStatuses.push(e.new_status);
      log(`  account: ${e.old_status} -> ${e.new_status} (${e.reason})`);
    });
    const account = await bringOnline(api, accountName, stepTimeout, log, (id) => (watched = id), await serviceStartTime(base));
    const accountId = account.id as string;
    const who = account.user_info ? ` as ${account.user_info.name ?? account.user_info.user_id ?? JSON.stringify(account.user_info)}` : '';
    log(`Account is online${who}.`);

    // 4. Conversations are synced after login (queued); ask for a sync when an online account has none.
    let conversations = await listConversations(api, accountId);
    if (conversations.length === 0) {
      await api('POST', `/api/v1/accounts/${accountId}/conversations/sync`, 'sync conversations').catch(() => undefined);
      conversations = await waitFor('conversations to sync', stepTimeout, async () => {
        const list = await listConversations(api, accountId);
        return list.length ? list : undefined;
      });
    }
    log(`${conversations.length} conversations synced:`);
    for (const c of conversations) log(`  - ${c.conversation_name ?? '(no name)'} [${c.conversation_type}] ${c.conversation_id}`);

    // 5. A template with variables: one filled per conversation, one shared by the task, one with a default.
    let template = (await api('GET', `/api/v1/templates?q=${encodeURIComponent(templateName)}&limit=100`, 'find the template')).data.find(
      (t: { name: string }) => t.name === templateName,
    );
    if (template) {
      log(`Reusing template "${templateName}" (${template.id}).`);
    } else {
      template = await api('POST', '/api/v1/templates', 'create the template', {
        name: templateName,
        category: 'demo',
        content: { type: 'text', text: 'Hello {{conversation_name}}! {{offer}} Questions? Ask {{agent}}.' },
        variables: [
          { name: 'conversation_name', required: true, description: 'filled from each conversation' },
          { name: 'offer', required: true, description: 'given by the task' },
          { name: 'agent', default: 'your account manager' },
        ],
        preview_data: { conversation_name: 'Alice', offer: 'Spring sale: 20% off this week.' },
        tags: ['demo'],
      });
      log(`Created template "${templateName}" (${template.id}).`);
    }
    const preview = await api('POST', `/api/v1/templates/${template.id}/preview`, 'preview the template', { variables: { conversation_name: 'Alice', offer: 'Spring sale: 20% off this week.' } });
    log(`Preview: "${String(preview.content.text ?? JSON.stringify(preview.content))}"`);

    // 6. A batch task to every conversation of the account.
    const offer = `Spring sale: 20% off until ${new Date(Date.now() + 7 * 86400_000).toISOString().slice(0, 10)}.`;
    let task = await api('POST', '/api/v1/tasks', 'create the task', {
      name: `Demo tour ${new Date().toISOString()}`,
      account_ids: [accountId],
      template_id: template.id,
      variables: { offer },
      target_type: 'filter',
      filter: {},
      send_strategy: { rate_per_minute: opts.ratePerMinute ?? 60, jitter: 0.1 },
    });
    const taskId = task.id as string;
    log(`Created task "${task.name}" (${taskId}) to all conversations of the account.`);

    let lastPrinted = '';
    socket.on('task.progress', (p: Record<string, any>) => {
      if (p.task_id !== taskId) return;
      progressEvents.push(p);
      const line = `  progress ${String(Math.round(p.percent)).padStart(3)}%  sent ${p.counts.sent}/${p.counts.total}  ok ${p.counts.success}  failed ${p.counts.failed}  delivered ${p.counts.delivered}`;
      if (line !== lastPrinted) log(line);
      lastPrinted = line;
    });
    socket.on('task.status', (e: Record<string, any>) => {
      if (e.task_id !== taskId) return;
      statusEvents.push(e);
      log(`  task is ${e.status}`);
    });

    log('Starting the task; live progress:');
    task = await api('POST', `/api/v1/tasks/${taskId}/start`, 'start the task');

    // 7. Until it ends (realtime prints the progress; polling decides, so a missed event cannot hang us).
    const tasksTimeout = stepTimeout + ((conversations.length * 60_000) / Math.max(1, opts.ratePerMinute ?? 60));
    task = await waitFor('the task to finish', tasksTimeout, async () => {
      const t = await api('GET', `/api/v1/tasks/${taskId}`, 'read the task');
      return TERMINAL_TASK.includes(t.status) ? t : undefined;
    });
    log(
      `Task ${task.status}: total ${task.total_count}, sent ${task.sent_count}, success ${task.success_count}, failed ${task.failed_count}, cancelled ${task.cancelled_count}, skipped ${task.skipped_count}.`,
    );
    if (task.status !== 'completed') throw new TourError(`the task ended ${task.status}${task.error_message ? `: ${task.error_message}` : ''}`);

    // 8. Delivery receipts come back as gateway callbacks, a moment after the sends.
    let messageCounts = await countMessages(api, taskId);
    try {
      messageCounts = await waitFor('delivery receipts', 15_000, async () => {
        const counts = await countMessages(api, taskId);
        return (counts.delivered ?? 0) >= task.success_count ? counts : undefined;
      });
    } catch {
      messageCounts = await countMessages(api, taskId);
      log('  (some delivery receipts have not arrived yet)');
    }
    log(`Messages by status: ${Object.entries(messageCounts).map(([s, n]) => `${s} ${n}`).join(', ')}.`);
    log(`Realtime: ${progressEvents.length} task.progress and ${statusEvents.length} task.status events received.`);
    return { accountId, guid: account.guid, accountStatuses, conversations, templateId: template.id, preview: preview.content, taskId, task, progressEvents, statusEvents, messageCounts };
  } finally {
    socket.close();
  }
}

type Api = (method: string, path: string, step: string, body?: unknown) => Promise<any>;

/** The gateway no longer has the account's instance (the built-in simulator forgets them when the service restarts). */
const instanceLost = (a: { status: string; error_message: string | null }) => a.status === 'error' && /instance .* not found/i.test(a.error_message ?? '');

/**
 * Finds the account by name (creating it when absent) and returns it online. An account whose gateway
 * instance is gone cannot log in again, so it is deleted and created afresh, once.
 */
async function bringOnline(
  api: Api,
  accountName: string,
  stepTimeout: number,
  log: (line: string) => void,
  watch: (id: string) => void,
  serviceStartedAt: number | undefined,
): Promise<any> {
  for (let attempt = 0; ; attempt++) {
    let account = (await api('GET', `/api/v1/accounts?q=${encodeURIComponent(accountName)}&limit=100`, 'find the account')).data.find(
      (a: { account_name: string }) => a.account_name === accountName,
    );
    if (account) {
      log(`Reusing account "${accountName}" (${account.id}), currently ${account.status}.`);
    } else {
      account = await api('POST', '/api/v1/accounts', 'create the account', { account_name: accountName });
      log(`Created account "${accountName}" (${account.id}) with gateway instance ${account.guid}.`);
    }
    const id = account.id as string;
    watch(id);

    // "online" in the database may predate a restart of the gateway (the built-in simulator keeps sessions
    // in memory): a heartbeat older than the watchdog period, or than the service, is confirmed first.
    const beat = Date.parse(account.last_heartbeat_time ?? account.last_login_time ?? '') || 0;
    if (account.status === 'online' && (Date.now() - beat > 40_000 || (serviceStartedAt !== undefined && beat < serviceStartedAt))) {
      log('Its last heartbeat predates the running service; waiting for the heartbeat watchdog to check the session (up to 30 s)...');
      account = await waitFor('the heartbeat watchdog', 45_000, async () => {
        const a = await api('GET', `/api/v1/accounts/${id}`, 'read the account');
        return a.status !== 'online' || (Date.parse(a.last_heartbeat_time ?? '') || 0) > beat ? a : undefined;
      });
    }
    // An automatic recovery may be under way: let it finish before deciding anything.
    if (LOGIN_UNDER_WAY.includes(account.status)) {
      log(`The account is ${account.status}; following it...`);
      account = await waitFor('the account to settle', stepTimeout, async () => {
        const a = await api('GET', `/api/v1/accounts/${id}`, 'read the account');
        return LOGIN_UNDER_WAY.includes(a.status) ? undefined : a;
      });
    }
    if (account.status === 'online') return account;

    if (!instanceLost(account)) {
      if (account.status === 'need_verify') throw new TourError('the gateway asks for a verification code; submit it with POST /api/v1/accounts/{id}/verify');
      try {
        await api('POST', `/api/v1/accounts/${id}/login`, 'start the login');
        log('Login started; waiting for the QR code to be scanned (the simulator does it)...');
      } catch (err) {
        // The service's own recovery may have started a login since the account was read: follow that one.
        const now = await api('GET', `/api/v1/accounts/${id}`, 'read the account');
        if (!LOGIN_UNDER_WAY.includes(now.status)) throw err;
        log(`A login is already under way (${now.status}, started by the service's recovery); following it...`);
      }
      account = await waitFor('the account to come online', stepTimeout, async () => {
        const a = await api('GET', `/api/v1/accounts/${id}`, 'read the account');
        if (a.status === 'need_verify') throw new TourError('the gateway asks for a verification code; submit it with POST /api/v1/accounts/{id}/verify');
        if (a.status === 'online' || a.status === 'error' || a.status === 'offline') return a;
        return undefined;
      });
      if (account.status === 'online') return account;
    }
    if (!instanceLost(account) || attempt > 0) throw new TourError(`the login ended ${account.status}: ${account.error_message ?? 'no reason given'}`);
    log(`The gateway no longer knows this account's instance (${account.error_message}); the built-in simulator forgets them when the service restarts. Recreating the account...`);
    await api('DELETE', `/api/v1/accounts/${id}`, 'delete the stale account');
  }
}

/** When the service process started, from its Prometheus metrics (undefined when they are not exposed). */
async function serviceStartTime(base: string): Promise<number | undefined> {
  try {
    const res = await fetch(`${base}/metrics`);
    if (!res.ok) return undefined;
    const m = /^process_start_time_seconds(?:\{[^}]*\})? (\d+(?:\.\d+)?)/m.exec(await res.text());
    return m ? Number(m[1]) * 1000 : undefined;
  } catch {
    return undefined;
  }
}

async function listConversations(api: Api, accountId: string): Promise<TourResult['conversations']> {
  const res = await api('GET', `/api/v1/accounts/${accountId}/conversations?limit=100`, 'list conversations');
  return res.data;
}

async function countMessages(api: Api, taskId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let cursor: string | null = null;
  do {
    const page: { data: Array<{ status: string }>; next_cursor: string | null } = await api(
      'GET',
      `/api/v1/messages?task_id=${taskId}&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      'list the messages',
    );
    for (const m of page.data) counts[m.status] = (counts[m.status] ?? 0) + 1;
    cursor = page.next_cursor;
  } while (cursor);
  return counts;
}

async function call(base: string, method: string, path: string, token: string | undefined, body: unknown, step: string): Promise<any> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new TourError(`could not ${step}: ${base} is not answering (${(err as Error).message}); is the service running?`);
  }
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  if (!res.ok) {
    const e = json?.error;
    throw new TourError(`could not ${step}: ${method} ${path} answered ${res.status}${e ? ` ${e.code}: ${e.message}` : ''}`);
  }
  return json;
}

function connectSocket(base: string, token: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = io(base, { auth: { token }, transports: ['websocket'], reconnection: true });
    const timer = setTimeout(() => {
      socket.close();
      reject(new TourError('could not connect to realtime updates (Socket.IO) within 10 s'));
    }, 10_000);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      socket.close();
      reject(new TourError(`could not connect to realtime updates (Socket.IO): ${err.message}`));
    });
  });
}

/** Polls until check() returns a value; a TourError from check() ends the wait at once. */
async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, intervalMs = 400): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new TourError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
