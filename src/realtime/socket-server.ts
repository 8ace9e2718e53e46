import type { Server as HttpServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Server } from 'socket.io';
import { resolvePrincipal } from '../api/authenticate';
import type { AppContext } from '../context';
import { createRedis } from '../redis';
import { socketChannel, tenantRoom } from './publisher';

/**
 * Socket.IO for operators. The handshake must carry an access token (auth.token) or API key; the socket
 * then joins only its own tenant's room, so it can never receive another tenant's events. The Redis
 * adapter lets events published by any process (see RealtimePublisher) reach sockets on any API process.
 */
export function attachSocketServer(ctx: AppContext, httpServer: HttpServer): Server {
  const pub = createRedis(ctx.config.redis);
  const sub = pub.duplicate();
  pub.on('error', () => undefined);
  sub.on('error', () => undefined);
  const io = new Server(httpServer, {
    cors: { origin: ctx.config.http.corsOrigins.includes('*') ? true : ctx.config.http.corsOrigins },
    adapter: createAdapter(pub, sub, { key: socketChannel(ctx.config.redis.prefix) }),
  });
  io.use(async (socket, next) => {
    const token = (socket.handshake.auth?.token as string | undefined) ?? undefined;
    if (!token) return next(new Error('unauthorized'));
    try {
      const principal = await resolvePrincipal(ctx.db, ctx.config, token);
      if (!principal.tenantId) return next(new Error('tenant principal required'));
      socket.data.tenantId = principal.tenantId;
      socket.data.principalId = principal.id;
      next();
    } catch (err) {
      next(new Error((err as Error).message));
    }
  });
  io.on('connection', (socket) => {
    void socket.join(tenantRoom(socket.data.tenantId as string));
  });
  ctx.onClose(async () => {
    await new Promise<void>((resolve) => io.close(() => resolve()));
    pub.disconnect();
    sub.disconnect();
  });
  return io;
}
