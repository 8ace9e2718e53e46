import { io, type Socket } from 'socket.io-client';
import { DEFAULT_WAIT_MS, waitFor } from './wait';

/**
 * A Socket.IO client that records every event it receives, for realtime tests.
 *
 *   const s = await connectSocket(env.url, { token: tenant.adminToken });
 *   const done = await s.waitForEvent('task.status', (p) => p.task_id === id && p.status === 'completed');
 *   s.close();
 */
export interface RecordingSocket {
  socket: Socket;
  /** Every event received so far, in order. */
  events: Array<{ event: string; payload: any }>;
  /** Payloads of `event` received so far (optionally filtered). */
  received(event: string, match?: (payload: any) => boolean): any[];
  /** The first payload of `event` matching `match`, received already or later. */
  waitForEvent(event: string, match?: (payload: any) => boolean, what?: string, timeoutMs?: number): Promise<any>;
  close(): void;
}

/**
 * Connects with the handshake `auth` (an access token or an API key as `token`) over WebSocket,
 * without reconnection. Rejects with the server's `connect_error` (e.g. `unauthorized`).
 */
export function connectSocket(url: string, auth: { token: string } | Record<string, unknown>): Promise<RecordingSocket> {
  return new Promise((resolve, reject) => {
    const socket = io(url, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
    const events: RecordingSocket['events'] = [];
    socket.onAny((event: string, payload: unknown) => events.push({ event, payload }));
    const recording: RecordingSocket = {
      socket,
      events,
      received: (event, match = () => true) => events.filter((e) => e.event === event && match(e.payload)).map((e) => e.payload),
      waitForEvent: (event, match = () => true, what = `socket event ${event}`, timeoutMs = DEFAULT_WAIT_MS) =>
        waitFor(() => events.find((e) => e.event === event && match(e.payload)), what, { timeoutMs, intervalMs: 20 }).then((e) => e.payload),
      close: () => {
        socket.disconnect();
      },
    };
    socket.once('connect', () => resolve(recording));
    socket.once('connect_error', (err) => {
      socket.disconnect();
      reject(err);
    });
  });
}
