import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { newId } from '../../src/db/ids';
import { QUEUE } from '../../src/queues/names';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signCallback } from '../../src/gateway/callback-protocol';
import type { TestEnv } from '../helpers/env';

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

/** Polls until `check` returns a value (the worker runs asynchronously); fails after `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
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
