import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CallbackSender } from '../../src/gateway/simulator/callback-sender';
import { SimError, SimulatorEngine, type SimulatorSettings } from '../../src/gateway/simulator/engine';
import { buildSimulatorApp, type RunningSimulator, type SimulatorOptions } from '../../src/gateway/simulator/server';
import { waitFor } from './wait';
import { BATCH_SEND_PATH } from '../../src/gateway/protocol';

/**
 * The built-in gateway simulator (the real protocol peer), started for one test file, with two things
 * tests need to observe it from the outside:
 * - `sends`: every send request the engine handled, in arrival order, with its arrival time (the clock
 *   the simulator's rate limiter uses) and outcome, so pacing tests check what the gateway saw;
 * - a door: `holdSends()` parks send requests as they arrive (before the engine sees them) until
 *   `releaseSends()`, so a test can act while a send is certainly in flight (`waitForHeldSends(n)`).
 */
export interface SendArrival {
  guid: string;
  key: string;
  /** Date.now() when the engine took the request (what its token bucket compares). */
  at: number;
  outcome: 'delivered' | 'duplicate' | 'rate_limited' | 'error';
  code?: string;
  retryAfterMs?: number;
}

export interface TestSimulator extends RunningSimulator {
  sends: SendArrival[];
  sendsOf(guid: string): SendArrival[];
  /** Login starts the engine saw (the gateway side of account logins and recoveries). */
  loginStarts: Array<{ guid: string; at: number; ok: boolean }>;
  holdSends(): void;
  /** Lets every parked send through and stops parking. */
  releaseSends(): void;
  /** How many sends are parked at the door now. */
  readonly heldSends: number;
  /** HTTP requests received and not yet answered or aborted (0: nothing of any client is on the wire). */
  readonly activeRequests: number;
  /** Barrier: resolves once at least `n` sends are parked at the door. */
  waitForHeldSends(n: number, what?: string, timeoutMs?: number): Promise<void>;
}

export type TestSimulatorOptions = Omit<SimulatorOptions, 'callbackSecret'> & { callbackSecret?: string; settings?: Partial<SimulatorSettings> };

export async function startTestSimulator(opts: TestSimulatorOptions = {}): Promise<TestSimulator> {
  const callbacks = new CallbackSender({ url: opts.callbackUrl, secret: opts.callbackSecret ?? 'test-callback-secret', ...opts.callbackQueue });
  const engine = new SimulatorEngine(callbacks, { ...opts.settings, ...(opts.autoLogin !== undefined ? { auto_login: opts.autoLogin } : {}) }, opts.limits);
  const sends: SendArrival[] = [];
  const loginStarts: TestSimulator['loginStarts'] = [];

  // Observe the engine's own calls (the same object the HTTP routes drive); behaviour is unchanged.
  const send = engine.send.bind(engine);
  engine.send = (guid, req) => {
    const arrival: SendArrival = { guid, key: String(req.idempotency_key ?? ''), at: Date.now(), outcome: 'error' };
    sends.push(arrival);
    try {
      const res = send(guid, req);
      arrival.outcome = res.duplicate ? 'duplicate' : 'delivered';
      return res;
    } catch (err) {
      if (err instanceof SimError) {
        arrival.code = err.code;
        if (err.code === 'rate_limited') {
          arrival.outcome = 'rate_limited';
          arrival.retryAfterMs = err.retryAfterMs;
        }
      }
      throw err;
    }
  };
  const startLogin = engine.startLogin.bind(engine);
  engine.startLogin = async (guid) => {
    const entry = { guid, at: Date.now(), ok: false };
    loginStarts.push(entry);
    const qr = await startLogin(guid);
    entry.ok = true;
    return qr;
  };

  const app = buildSimulatorApp(engine, callbacks, opts.apiKey);
  let holding = false;
  const parked: Array<() => void> = [];
  // A single send or a batch of them (protocol.ts): either is a send request on the wire.
  const isSend = (req: IncomingMessage) => req.method === 'POST' && (/^\/instances\/[^/]+\/messages/.test(req.url ?? '') || req.url === BATCH_SEND_PATH);
  let active = 0;
  const server: Server = createServer((req, res) => {
    active += 1;
    res.once('close', () => {
      active -= 1;
    });
    if (holding && isSend(req)) parked.push(() => app(req, res));
    else app(req, res);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const release = () => {
    holding = false;
    for (const go of parked.splice(0)) go();
  };
  return {
    url,
    control: engine,
    callbacks,
    sends,
    sendsOf: (guid) => sends.filter((s) => s.guid === guid),
    loginStarts,
    holdSends: () => {
      holding = true;
    },
    releaseSends: release,
    get heldSends() {
      return parked.length;
    },
    get activeRequests() {
      return active;
    },
    waitForHeldSends: async (n, what = `${n} send request(s) parked at the simulator`, timeoutMs) => {
      await waitFor(() => parked.length >= n, what, { intervalMs: 10, timeoutMs });
    },
    async close() {
      release();
      engine.close();
      await callbacks.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** The smallest gap (ms) between consecutive arrivals in `sends` (Infinity for fewer than two). */
export function smallestGapMs(sends: Array<{ at: number }>): number {
  let min = Number.POSITIVE_INFINITY;
  for (let i = 1; i < sends.length; i += 1) min = Math.min(min, sends[i].at - sends[i - 1].at);
  return min;
}
