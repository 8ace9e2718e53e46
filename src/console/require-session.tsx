import { useEffect, useState, useSyncExternalStore, type ReactNode } from 'react';
import { Navigate, useLocation } from 'react-router';
import { currentToken, onSessionChange, refreshSession } from './session';

/** Renders its children with a session; restores one from the refresh cookie first, else sends to sign-in. */
export function RequireSession({ children }: { children: ReactNode }) {
  const token = useSyncExternalStore(onSessionChange, currentToken);
  const [tried, setTried] = useState(Boolean(token));
  const location = useLocation();
  useEffect(() => {
    if (!token && !tried) void refreshSession().finally(() => setTried(true));
  }, [token, tried]);
  if (token) return <>{children}</>;
  if (!tried) return <div className="boot" role="status" aria-label="loading" />;
  return <Navigate to="/sign-in" replace state={{ from: location.pathname }} />;
}
