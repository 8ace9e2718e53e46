import { useQueryClient } from '@tanstack/react-query';
import { useCallback, useEffect, useRef, useState } from 'react';
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

/**
 * Re-reads queries when `event` arrives, at most once per `everyMs`: the first event of a burst at once,
 * the rest coalesced into one read when the interval ends. A campaign sends several `task.progress` a
 * second; a list re-read on each would cost the API a page query per event per open screen.
 */
export function useLiveInvalidate<T>(event: string, queryKeys: ReadonlyArray<readonly unknown[]>, opts: { everyMs?: number; when?: (payload: T) => boolean } = {}): void {
  const qc = useQueryClient();
  const everyMs = opts.everyMs ?? 1000;
  const keysText = JSON.stringify(queryKeys);
  const when = useRef(opts.when);
  when.current = opts.when;
  const due = useRef<{ last: number; timer?: ReturnType<typeof setTimeout> }>({ last: 0 });
  useEffect(() => () => clearTimeout(due.current.timer), []);
  const handler = useCallback(
    (payload: T) => {
      if (when.current && !when.current(payload)) return;
      const d = due.current;
      if (d.timer) return;
      const run = () => {
        d.timer = undefined;
        d.last = Date.now();
        for (const queryKey of JSON.parse(keysText) as unknown[][]) void qc.invalidateQueries({ queryKey });
      };
      const wait = d.last + everyMs - Date.now();
      if (wait <= 0) run();
      else d.timer = setTimeout(run, wait);
    },
    [qc, keysText, everyMs],
  );
  useLiveEvent(event, handler);
}
