import type { Server as HttpServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import type Redis from 'ioredis';
import { Server, type Socket } from 'socket.io';
import { resolvePrincipal } from '../api/authenticate';
import type { AppContext } from '../context';
import { createRedis } from '../redis';
import { hasPermission } from '../domain/permissions';
import { REALTIME_READ_PERMISSIONS } from '../domain/realtime-events';
import { principalRoom, socketChannel, tenantPermissionRoom, tenantRoom } from './publisher';
import { AppError, ForbiddenError } from '../errors';

/**
 * Socket.IO for operators. The handshake must carry an access token (auth.token) or API key; the socket
 * then joins only its own tenant's rooms, one per read permission its principal holds, so it can never
 * receive another tenant's events nor events its operator or key could not read through the API. The Redis
 * adapter lets events published by any process (see RealtimePublisher) reach sockets on any API process.
 * A socket also joins its principal's room, so revoking the operator or key closes it on every process
 * (RealtimePublisher.endSessions), and it is closed when its access token or API key expires.
 */
export function attachSocketServer(ctx: AppContext, httpServer: HttpServer): Server {
  const pub = createRedis(ctx.config.redis);
  const sub = pub.duplicate();
  pub.on('error', () => undefined);
  sub.on('error', () => undefined);
  const io = new Server(httpServer, {
    cors: { origin: ctx.config.http.corsOrigins.includes('*') ? true : ctx.config.http.corsOrigins },
    adapter: createAdapter(ownedPublishes(pub), sub, { key: socketChannel(ctx.config.redis.prefix) }),
  });
  const check = async (token: string) => {
    const principal = await resolvePrincipal(ctx.db, ctx.config, token);
    if (!principal.tenantId || principal.kind === 'platform') throw new ForbiddenError('tenant principal required');
    return principal;
  };
  io.use(async (socket, next) => {
    // Clients may send anything as auth: a non-string token is a plain refusal, never a TypeError's text.
    const token: unknown = socket.handshake.auth?.token;
    if (typeof token !== 'string' || !token) return next(new Error('unauthorized'));
    try {
      const principal = await check(token);
      socket.data.tenantId = principal.tenantId;
      socket.data.principal = { kind: principal.kind, id: principal.id };
      socket.data.readPermissions = REALTIME_READ_PERMISSIONS.filter((p) => hasPermission(principal.permissions, p));
      socket.data.expiresAt = principal.expiresAt?.getTime();
      next();
    } catch (err) {
      // Only our own refusals (401/403) are worth telling the client; anything else stays in the log.
      if (err instanceof AppError) return next(new Error(err.message));
      ctx.logger.error({ err }, 'socket authentication failed');
      next(new Error('authentication unavailable'));
    }
  });
  io.on('connection', (socket) => {
    const { kind, id } = socket.data.principal as { kind: 'user' | 'api_key'; id: string };
    const tenantId = socket.data.tenantId as string;
    const readable = (socket.data.readPermissions as typeof REALTIME_READ_PERMISSIONS).map((p) => tenantPermissionRoom(tenantId, p));
    void socket.join([tenantRoom(tenantId), principalRoom(kind, id), ...readable]);
    closeAtExpiry(socket, socket.data.expiresAt as number | undefined);
    // A revocation committed between the handshake's check and the join found no socket to close: check again.
    check(socket.handshake.auth.token as string).catch(() => socket.disconnect(true));
  });
  ctx.onClose(async () => {
    await new Promise<void>((resolve) => io.close(() => resolve()));
    pub.disconnect();
    sub.disconnect();
  });
  return io;
}

/**
 * The adapter fires PUBLISH and drops the promise (disconnectSockets, broadcasts): with Redis down, or a
 * cluster client closed while its node connections are still opening, that promise rejects with no
 * owner. This client owns it (realtime is best effort; the API has the truth). On a cluster, PUBLISH
 * reaches subscribers on every node, so the classic adapter works unchanged there.
 */
function ownedPublishes(client: Redis): Redis {
  return new Proxy(client, {
    get(target, prop) {
      if (prop === 'publish') return (...args: Parameters<Redis['publish']>) => target.publish(...args).catch(() => 0);
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

// setTimeout holds at most ~24.8 days; longer waits re-arm.
const MAX_TIMER_MS = 2 ** 31 - 1;

function closeAtExpiry(socket: Socket, expiresAt: number | undefined): void {
  if (expiresAt === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const wait = expiresAt - Date.now();
    if (wait <= 0) {
      socket.disconnect(true);
      return;
    }
    timer = setTimeout(arm, Math.min(wait, MAX_TIMER_MS));
  };
  arm();
  socket.once('disconnect', () => clearTimeout(timer));
}
