import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { newId } from '../../src/db/ids';
import { QUEUE } from '../../src/queues/names';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signCallback } from '../../src/gateway/callback-protocol';
import type { TestEnv } from '../helpers/env';
import { waitFor } from '../helpers/wait';

/** Test-side gateway: posts callbacks signed the way the real gateway signs them. */
export interface PostOptions {
  secret?: string;
  timestamp?: number;
  signature?: string | null;
  headers?: Record<string, string>;
  rawBody?: string;
}

export async function postCallback(
  env: TestEnv,
  body: unknown,
  opts: PostOptions = {},
): Promise<{ status: number; body: any }> {
  const raw = opts.rawBody ?? JSON.stringify(body);
  const ts = opts.timestamp ?? Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'test-gateway/1.0', ...(opts.headers ?? {}) };
  if (opts.signature !== null) {
    headers[TIMESTAMP_HEADER] = String(ts);
    headers[SIGNATURE_HEADER] = opts.signature ?? signCallback(opts.secret ?? env.config.gateway.callbackSecret, ts, raw);
  }
  const res = await request(`${env.url}/callbacks/gateway`, { method: 'POST', headers, body: raw });
  const text = await res.body.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.statusCode, body: parsed };
}

export function callback(guid: string, notifyType: number, payload: Record<string, unknown> = {}, eventId = randomUUID()) {
  return { event_id: eventId, guid, notify_type: notifyType, payload, timestamp: Math.floor(Date.now() / 1000) };
}

/** An account row with a gateway guid, inserted directly (the accounts API is another module's). */
export async function insertAccount(env: TestEnv, tenantId: string, guid = `guid-${randomUUID()}`): Promise<{ id: string; guid: string }> {
  const id = newId();
  await env.ctx.db('wework_accounts').insert({ id, tenant_id: tenantId, account_name: `acct-${id.slice(-8)}`, guid, status: 'online' });
  return { id, guid };
}

export async function eventRow(env: TestEnv, id: string): Promise<any> {
  return env.ctx.db('callback_events').where({ id }).first();
}

/** Waits until the stored event `id` satisfies `ok` (the worker runs asynchronously) and returns its row. */
export function waitForEvent(env: TestEnv, id: string, ok: (row: any) => boolean, what: string): Promise<any> {
  return waitFor(() => eventRow(env, id), `callback event ${id}: ${what}`, { until: (row) => Boolean(row) && ok(row) });
}

export async function rejectedCount(env: TestEnv, reason: string): Promise<number> {
  const res = await request(`${env.url}/metrics`);
  const text = await res.body.text();
  const m = text.match(new RegExp(`^callbacks_rejected_total\\{reason="${reason}"\\} (\\d+)`, 'm'));
  return m ? Number(m[1]) : 0;
}

/** Event ids that have a job in the callback queue, whichever kind (per-event or batch). */
export async function queuedEventIds(env: TestEnv): Promise<Set<string>> {
  const jobs = await env.ctx.queues.get(QUEUE.callbackProcess).getJobs(['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed']);
  return new Set(jobs.flatMap((j) => (Array.isArray(j?.data?.ids) ? j.data.ids : j?.data?.id ? [j.data.id] : [])));
}
