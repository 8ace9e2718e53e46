import { useEffect, useState } from 'react';
import { io, type Socket } from 'socket.io-client';
import { currentToken, onSessionChange, refreshSession } from './session';

/**
 * One Socket.IO connection per signed-in page, authenticated with the in-memory access token. Screens
 * subscribe to the tenant's events (account.status, account.qr, task.progress, task.status) and update
 * themselves: nothing on the console polls or has a "sync" button.
 */
let socket: Socket | null = null;
const connectionListeners = new Set<(connected: boolean) => void>();

function ensureSocket(): Socket | null {
  if (socket || !currentToken()) return socket;
  socket = io({ path: '/socket.io', transports: ['websocket'], auth: (cb) => cb({ token: currentToken() }) });
  socket.on('connect', () => connectionListeners.forEach((fn) => fn(true)));
  socket.on('disconnect', () => connectionListeners.forEach((fn) => fn(false)));
  // An expired token is refused at the handshake: refresh, then the next attempt carries the new one.
  socket.on('connect_error', () => void refreshSession());
  return socket;
}

onSessionChange(() => {
  if (!currentToken() && socket) {
    socket.disconnect();
    socket = null;
  }
});

export function useLiveEvent<T>(event: string, handler: (payload: T) => void): void {
  useEffect(() => {
    const s = ensureSocket();
    if (!s) return;
    s.on(event, handler);
    return () => {
      s.off(event, handler);
    };
  }, [event, handler]);
}

export function useLiveConnected(): boolean {
  const [connected, setConnected] = useState(() => Boolean(ensureSocket()?.connected));
  useEffect(() => {
    connectionListeners.add(setConnected);
    // It may have connected between the first render and now.
    setConnected(Boolean(ensureSocket()?.connected));
    return () => {
      connectionListeners.delete(setConnected);
    };
  }, []);
  return connected;
}
