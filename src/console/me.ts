import { useQuery } from '@tanstack/react-query';
import { api, unwrap } from './api/client';

/** Who is signed in and what they may do: screens hide the actions the caller's role lacks. */
export function useMe() {
  return useQuery({ queryKey: ['me'], queryFn: async () => unwrap(await api.GET('/api/v1/auth/me')), staleTime: 60_000 });
}

export function useCan(permission: string): boolean {
  const perms = useMe().data?.permissions ?? [];
  return perms.includes('*') || perms.includes(permission);
}
