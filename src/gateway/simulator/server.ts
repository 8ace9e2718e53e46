import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { API_KEY_HEADER, BATCH_SEND_MAX, BATCH_SEND_PATH, FILE_NAME_HEADER, IDEMPOTENCY_HEADER, type WireBatchResult } from '../protocol';
import type { OfflineScene } from '../types';
import { CallbackSender } from './callback-sender';
import { SimError, SimulatorEngine, type SimulatorSettings } from './engine';
import { bearerMatches } from '../../auth/bearer-token';

export interface SimulatorOptions {
  port?: number;
  host?: string;
  /** Where callbacks are POSTed (the service's /callbacks/gateway); undefined = no callbacks. */
  callbackUrl?: string;
  callbackSecret: string;
  /** Required in X-Api-Key on the gateway API when set. */
  apiKey?: string;
  /** Required as `Authorization: Bearer …` on the /_control API when set. */
  controlToken?: string;
  autoLogin?: boolean;
  settings?: Partial<SimulatorSettings>;
  limits?: { maxInstances: number; maxLedgerKeys: number; maxPendingReceipts: number };
  callbackQueue?: { maxQueued?: number; concurrency?: number; maxAttempts?: number; retryBaseMs?: number };
}

export interface RunningSimulator {
  url: string;
  /** In-process handle on the same engine the control API drives. */
  control: SimulatorEngine;
  callbacks: CallbackSender;
  close(): Promise<void>;
}

const SCENES = new Set<OfflineScene>(['logout', 'kicked', 'expired', 'network']);

/**
 * The built-in gateway simulator: the gateway REST protocol (protocol.ts) under /instances and a control
 * API under /_control for demos and tests. Runs as the `simulator` role or inside a test on port 0.
 *
 * Sends also come in batches (`POST /messages/batch`), each item answered as its single send would be.
 *
 * Control API (no auth; bind it to a private address):
 *   GET   /_control/stats                         instances, online, counters, ledger, callback queue, settings
 *   GET   /_control/settings · PATCH {…}           SimulatorSettings (send_rate_per_minute, latency_ms,
 *                                                 failure_rate, ack_loss_rate, risk_rate, risk_code, permanent_targets, rejected_words,
 *                                                 auto_login, qr_ttl_ms, receipt_delay_ms, idempotency …)
 *   GET   /_control/ledger                        {total_requests, total_deliveries, unique_keys,
 *                                                  duplicate_requests, duplicate_deliveries, evicted_keys}
 *   GET   /_control/ledger/:key                   {key, deliveries}
 *   POST  /_control/reset {settings?}             forget instances, ledger, counters
 *   GET   /_control/instances/:guid               phase, QR content, pending verify code
 *   POST  /_control/instances/:guid/scan          waiting_scan → waiting_confirm      (callback 7)
 *   POST  /_control/instances/:guid/confirm       → online (callback 1) or need_verify (callback 7)
 *   POST  /_control/instances/:guid/require-verify {code}   next confirm asks for this code
 *   POST  /_control/instances/:guid/kick {scene, notify}    offline with scene        (callback 2)
 *   POST  /_control/instances/:guid/stall {stalled, ago_ms} freeze the reported heartbeat
 *   POST  /_control/instances/:guid/fail-login {kind, times} next login starts fail
 *   POST  /_control/instances/:guid/risk {code, times}      next sends refused 403 with the risk code
 *   POST  /_control/instances/:guid/incoming {conversation_id, text}  incoming message (callback 3)
 */
export async function startSimulator(opts: SimulatorOptions): Promise<RunningSimulator> {
  const callbacks = new CallbackSender({ url: opts.callbackUrl, secret: opts.callbackSecret, ...opts.callbackQueue });
  const engine = new SimulatorEngine(callbacks, { ...opts.settings, ...(opts.autoLogin !== undefined ? { auto_login: opts.autoLogin } : {}) }, opts.limits);
  const app = buildSimulatorApp(engine, callbacks, opts.apiKey, opts.controlToken);
  const server: Server = createServer(app);
  server.keepAliveTimeout = 60_000;
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${addr.port}`;
  return {
    url,
    control: engine,
    callbacks,
    async close() {
      engine.close();
      await callbacks.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

export function buildSimulatorApp(engine: SimulatorEngine, callbacks: CallbackSender, apiKey?: string, controlToken?: string): express.Express {
  const app = express();
  app.disable('x-powered-by');

  const gw = express.Router();
  gw.use((req, _res, next) => {
    if (apiKey && req.get(API_KEY_HEADER) !== apiKey) return next(new SimError(401, 'unauthorized', 'bad or missing API key'));
    const { latency_ms, latency_jitter_ms } = engine.settings;
    const delay = latency_ms + (latency_jitter_ms > 0 ? Math.random() * latency_jitter_ms : 0);
    if (delay > 0) setTimeout(next, delay);
    else next();
  });
  gw.post('/instances/:guid/media', express.raw({ type: () => true, limit: '25mb' }), (req, res) => {
    const size = Buffer.isBuffer(req.body) ? req.body.length : 0;
    void req.get(FILE_NAME_HEADER);
    res.status(201).json(engine.uploadMedia(req.params.guid, size));
  });
  gw.use(express.json({ limit: '1mb' }));
  gw.post('/instances', (req, res) => {
    const label = typeof req.body?.label === 'string' ? req.body.label.slice(0, 100) : undefined;
    res.status(201).json(engine.createInstance(label));
  });
  gw.post('/instances/status/query', (req, res) => {
    const guids = req.body?.guids;
    if (!Array.isArray(guids) || guids.length > 1000 || guids.some((g) => typeof g !== 'string')) {
      throw new SimError(400, 'bad_request', 'guids must be an array of at most 1000 strings');
    }
    res.json({ instances: guids.map((g: string) => engine.status(g)) });
  });
  // The simulator needs no provider secrets: credentials are accepted and dropped (protocol.ts).
  gw.put('/instances/:guid/credentials', (req, res) => {
    engine.describe(req.params.guid);
    res.status(204).end();
  });
  gw.delete('/instances/:guid', (req, res) => {
    engine.deleteInstance(req.params.guid);
    res.status(204).end();
  });
  gw.post('/instances/:guid/login', async (req, res) => {
    res.json(await engine.startLogin(req.params.guid));
  });
  gw.get('/instances/:guid/login', (req, res) => {
    res.json(engine.loginProgress(req.params.guid));
  });
  gw.post('/instances/:guid/login/verify', (req, res) => {
    const code = req.body?.code;
    if (typeof code !== 'string' || !code) throw new SimError(400, 'bad_request', 'code required');
    res.json(engine.submitVerifyCode(req.params.guid, code));
  });
  gw.delete('/instances/:guid/login', (req, res) => {
    engine.cancelLogin(req.params.guid);
    res.status(204).end();
  });
  gw.post('/instances/:guid/logout', (req, res) => {
    engine.logout(req.params.guid);
    res.status(204).end();
  });
  gw.get('/instances/:guid/status', (req, res) => {
    res.json(engine.status(req.params.guid));
  });
  gw.get('/instances/:guid/conversations', (req, res) => {
    res.json({ conversations: engine.conversations(req.params.guid) });
  });
  gw.post('/instances/:guid/messages/status/query', (req, res) => {
    const ids = req.body?.message_ids;
    if (!Array.isArray(ids) || ids.length > 100 || ids.some((m) => typeof m !== 'string')) {
      throw new SimError(400, 'bad_request', 'message_ids must be an array of at most 100 strings');
    }
    res.json({ messages: engine.messageStatuses(req.params.guid, ids as string[]) });
  });
  gw.post('/instances/:guid/messages', (req, res) => {
    const key = req.get(IDEMPOTENCY_HEADER) ?? req.body?.idempotency_key;
    res.json(engine.send(req.params.guid, { ...req.body, idempotency_key: key }));
  });
  // Batch send (protocol.ts): each item is the single send, in order, with its own outcome.
  gw.post(BATCH_SEND_PATH, (req, res) => {
    const sends = req.body?.sends;
    if (!Array.isArray(sends) || sends.length === 0 || sends.length > BATCH_SEND_MAX || sends.some((x) => !x || typeof x !== 'object')) {
      throw new SimError(400, 'bad_request', `sends must be an array of 1 to ${BATCH_SEND_MAX} objects`);
    }
    engine.counters.batch_requests++;
    const results: WireBatchResult[] = sends.map((item: { guid?: unknown; conversation_id?: unknown; content?: unknown; idempotency_key?: unknown }) => {
      try {
        if (typeof item.guid !== 'string' || !item.guid) throw new SimError(400, 'bad_request', 'guid required');
        return engine.send(item.guid, item);
      } catch (err) {
        if (!(err instanceof SimError)) return { status: 500, error: { code: 'internal_error', message: 'simulator error' } };
        return { status: err.status, error: { code: err.code, message: err.message, ...(err.retryAfterMs !== undefined ? { retry_after_ms: err.retryAfterMs } : {}) } };
      }
    });
    res.json({ results });
  });

  const control = express.Router();
  // The control API logs accounts in and out and reads the ledger: with a token set, only its holders.
  control.use('/_control', (req, _res, next) => {
    if (controlToken && !bearerMatches(req.get('authorization'), controlToken)) return next(new SimError(401, 'unauthorized', 'SIMULATOR_CONTROL_TOKEN required as a bearer token'));
    next();
  });
  control.use(express.json({ limit: '1mb' }));
  control.get('/_control/stats', (_req, res) => {
    res.json({ ...engine.stats(), callbacks: { ...callbacks.stats, pending: callbacks.pending }, settings: engine.settings });
  });
  control.get('/_control/settings', (_req, res) => {
    res.json(engine.settings);
  });
  control.patch('/_control/settings', (req, res) => {
    res.json(engine.configure(pickSettings(req.body)));
  });
  control.get('/_control/ledger', (_req, res) => {
    res.json(engine.ledger.summary());
  });
  control.get('/_control/ledger/:key', (req, res) => {
    res.json({ key: req.params.key, deliveries: engine.ledger.deliveriesOf(req.params.key) });
  });
  control.post('/_control/reset', (req, res) => {
    engine.reset(pickSettings(req.body ?? {}));
    callbacks.clear();
    res.status(204).end();
  });
  control.get('/_control/instances/:guid', (req, res) => {
    res.json(engine.describe(req.params.guid));
  });
  control.post('/_control/instances/:guid/scan', (req, res) => {
    res.json(engine.scan(req.params.guid));
  });
  control.post('/_control/instances/:guid/confirm', (req, res) => {
    res.json(engine.confirm(req.params.guid));
  });
  control.post('/_control/instances/:guid/require-verify', (req, res) => {
    const code = typeof req.body?.code === 'string' && req.body.code ? req.body.code : '123456';
    engine.requireVerify(req.params.guid, code);
    res.json({ code });
  });
  control.post('/_control/instances/:guid/kick', (req, res) => {
    const scene = (req.body?.scene ?? 'kicked') as OfflineScene;
    if (!SCENES.has(scene)) throw new SimError(400, 'bad_request', 'scene must be logout, kicked, expired or network');
    engine.kick(req.params.guid, scene, req.body?.notify !== false);
    res.json(engine.describe(req.params.guid));
  });
  control.post('/_control/instances/:guid/stall', (req, res) => {
    engine.stallHeartbeat(req.params.guid, req.body?.stalled !== false, Number(req.body?.ago_ms ?? 0) || 0);
    res.json(engine.describe(req.params.guid));
  });
  control.post('/_control/instances/:guid/fail-login', (req, res) => {
    const kind = req.body?.kind ?? null;
    if (kind !== null && kind !== 'retryable' && kind !== 'permanent') throw new SimError(400, 'bad_request', 'kind must be retryable, permanent or null');
    engine.failLogin(req.params.guid, kind, Number(req.body?.times ?? 1));
    res.status(204).end();
  });
  control.post('/_control/instances/:guid/risk', (req, res) => {
    const code = typeof req.body?.code === 'string' && req.body.code ? req.body.code : 'risk_control';
    const times = Number(req.body?.times ?? 1);
    if (!Number.isInteger(times) || times < 0) throw new SimError(400, 'bad_request', 'times must be a whole number ≥ 0');
    engine.answerRisk(req.params.guid, code, times);
    res.status(204).end();
  });
  control.post('/_control/instances/:guid/incoming', (req, res) => {
    const { conversation_id, text, sender_id, conversation_type } = req.body ?? {};
    if (typeof conversation_id !== 'string' || typeof text !== 'string') throw new SimError(400, 'bad_request', 'conversation_id and text required');
    res.json({ msg_id: engine.incoming(req.params.guid, { conversation_id, text, sender_id, conversation_type }) });
  });

  app.use(control);
  app.use(gw);
  app.use((_req, _res, next) => next(new SimError(404, 'not_found', 'no such route')));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof SimError) {
      if (err.retryAfterMs !== undefined) res.setHeader('Retry-After', String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))));
      res.status(err.status).json({ error: { code: err.code, message: err.message, retry_after_ms: err.retryAfterMs } });
      return;
    }
    const e = err as { status?: number; type?: string; message?: string };
    if (e.status && e.status < 500) {
      res.status(e.status).json({ error: { code: 'bad_request', message: e.message ?? 'bad request' } });
      return;
    }
    res.status(500).json({ error: { code: 'internal_error', message: 'simulator error' } });
  });
  return app;
}

const NUMERIC: (keyof SimulatorSettings)[] = [
  'auto_login_delay_ms',
  'qr_ttl_ms',
  'verify_ttl_ms',
  'send_rate_per_minute',
  'send_burst',
  'latency_ms',
  'latency_jitter_ms',
  'failure_rate',
  'ack_loss_rate',
  'receipt_delay_ms',
  'receipt_failure_rate',
  'receipt_drop_rate',
  'risk_rate',
];

/** Validates a settings patch from the control API (unknown keys are an error, so typos don't pass silently). */
function pickSettings(body: unknown): Partial<SimulatorSettings> {
  if (!body || typeof body !== 'object') return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if ((NUMERIC as string[]).includes(k)) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new SimError(400, 'bad_request', `${k} must be a non-negative number`);
      if ((k.endsWith('_rate') && k !== 'send_rate_per_minute') && v > 1) throw new SimError(400, 'bad_request', `${k} must be between 0 and 1`);
      out[k] = v;
    } else if (k === 'auto_login' || k === 'idempotency') {
      if (typeof v !== 'boolean') throw new SimError(400, 'bad_request', `${k} must be a boolean`);
      out[k] = v;
    } else if (k === 'risk_code') {
      if (typeof v !== 'string' || !/^[a-z0-9_]{1,50}$/.test(v)) throw new SimError(400, 'bad_request', 'risk_code must be a snake_case code');
      out[k] = v;
    } else if (k === 'permanent_targets' || k === 'rejected_words') {
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string') || v.length > 10_000) throw new SimError(400, 'bad_request', `${k} must be an array of strings`);
      out[k] = v;
    } else {
      throw new SimError(400, 'bad_request', `unknown setting ${k}`);
    }
  }
  return out as Partial<SimulatorSettings>;
}
