import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A real HTTP receiver on loopback for webhook tests and the bench: records requests, answers as told. */
export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Requests received and not answered yet (with `answerAfterMs`). */
  unanswered(): Received[];
  /** Status for the next requests to `path` (consumed in order); then 200. */
  script(path: string, statuses: number[]): void;
  close(): Promise<void>;
}

export async function startReceiver(opts: { answerAfterMs?: number } = {}): Promise<Receiver> {
  const received: Received[] = [];
  const waiting = new Set<Received>();
  const scripts = new Map<string, number[]>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const got = { path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(got);
      const status = scripts.get(path)?.shift() ?? 200;
      if (status >= 300 && status < 400) res.setHeader('location', '/elsewhere');
      const answer = () => {
        waiting.delete(got);
        if (!res.destroyed) res.writeHead(status, { 'content-type': 'text/plain' }).end(`answered ${status}`);
      };
      if (!opts.answerAfterMs) return answer();
      waiting.add(got);
      setTimeout(answer, opts.answerAfterMs);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    unanswered: () => [...waiting],
    script: (path, statuses) => scripts.set(path, [...statuses]),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
