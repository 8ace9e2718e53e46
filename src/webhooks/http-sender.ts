import http from 'node:http';
import https from 'node:https';
import { assertUrlAllowed, guardedLookup, SsrfError, type SsrfPolicy } from './ssrf';

/**
 * POSTs one webhook request. Keep-alive agents per process; the agents' `lookup` is the SSRF guard, so
 * every new connection is checked after DNS resolution. Redirects are never followed (node's http does
 * not follow them; a 3xx is a failed attempt). The whole request is bounded by `timeoutMs`.
 */
export interface PostOutcome {
  statusCode: number | null;
  latencyMs: number;
  /** First bytes of the response body (for the delivery log). */
  excerpt: string | null;
  error: string | null;
  /** The address was refused by the SSRF guard. */
  forbidden: boolean;
}

const EXCERPT_BYTES = 500;

export class WebhookHttpSender {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(
    private readonly policy: SsrfPolicy,
    private readonly timeoutMs = 10_000,
  ) {
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 64 });
  }

  post(rawUrl: string, headers: Record<string, string>, body: string): Promise<PostOutcome> {
    const started = performance.now();
    const done = (o: Omit<PostOutcome, 'latencyMs'>): PostOutcome => ({ ...o, latencyMs: Math.round(performance.now() - started) });
    let url: URL;
    try {
      url = new URL(rawUrl);
      assertUrlAllowed(this.policy, url);
    } catch (err) {
      return Promise.resolve(done({ statusCode: null, excerpt: null, error: (err as Error).message, forbidden: err instanceof SsrfError }));
    }
    const isHttps = url.protocol === 'https:';
    return new Promise((resolve) => {
      let settled = false;
      const finish = (o: Omit<PostOutcome, 'latencyMs'>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(done(o));
      };
      const req = (isHttps ? https : http).request(
        url,
        {
          method: 'POST',
          agent: isHttps ? this.httpsAgent : this.httpAgent,
          lookup: guardedLookup(this.policy) as never,
          headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'wework-platform-webhooks/1', ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let kept = 0;
          res.on('data', (c: Buffer) => {
            if (kept < EXCERPT_BYTES) {
              chunks.push(c);
              kept += c.length;
            }
          });
          res.on('end', () => finish({ statusCode: res.statusCode ?? null, excerpt: Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString('utf8'), error: null, forbidden: false }));
          res.on('error', (err) => finish({ statusCode: res.statusCode ?? null, excerpt: null, error: err.message, forbidden: false }));
        },
      );
      const timer = setTimeout(() => {
        req.destroy(new Error(`timed out after ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      req.on('error', (err) => finish({ statusCode: null, excerpt: null, error: err.message.slice(0, 500), forbidden: err instanceof SsrfError || (err as { code?: string }).code === 'webhook_address_forbidden' }));
      req.end(body);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
