import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './api/app';
import { withFastGatewayCallbacks } from './api/callback-fast-path';
import type { AppContext } from './context';
import { attachSocketServer } from './realtime/socket-server';

export interface RunningApi {
  server: Server;
  url: string;
  close(graceMs?: number): Promise<void>;
}

/** Starts the HTTP API with Socket.IO on `port` (0 = random, for tests). Close finishes in-flight requests. */
export async function startApiServer(ctx: AppContext, port = ctx.config.http.port, host = ctx.config.http.host): Promise<RunningApi> {
  const app = createApp(ctx);
  const handle = withFastGatewayCallbacks(ctx, app);
  let closing = false;
  const server = createServer((req, res) => {
    // While draining, tell keep-alive clients to go away after this response.
    if (closing) res.setHeader('Connection', 'close');
    handle(req, res);
  });
  server.keepAliveTimeout = 65_000;
  const io = attachSocketServer(ctx, server);
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const addr = server.address() as AddressInfo;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${addr.port}`;
  return {
    server,
    url,
    /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes what is left. */
    async close(graceMs = 10_000) {
      closing = true;
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Connections busy when close began become idle later; keep closing them as they do.
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        const hard = setTimeout(() => server.closeAllConnections(), graceMs);
        server.once('close', () => {
          clearInterval(sweep);
          clearTimeout(hard);
        });
      });
    },
  };
}
