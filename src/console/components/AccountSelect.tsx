import { useQuery } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { api, unwrap } from '../api/client';
import { SearchSelect, type SearchSelectProps } from './SearchSelect';

/** The tenant's first accounts (for names in tables); pickers search the server instead. */
export function useAccountOptions() {
  const accounts = useQuery({ queryKey: ['accounts'], queryFn: async () => unwrap(await api.GET('/api/v1/accounts', { params: { query: { limit: 200 } } })) });
  const rows = accounts.data?.data ?? [];
  return { rows, nameOf: (id: string | null | undefined) => rows.find((a) => a.id === id)?.account_name ?? id ?? '' };
}

/** An account picker searching the tenant's accounts by name on the server, 50 at a time. */
export function AccountSelect(props: SearchSelectProps) {
  const { t } = useTranslation();
  return (
    <SearchSelect
      {...props}
      listKey="accounts"
      fetchPage={async (q, cursor) => unwrap(await api.GET('/api/v1/accounts', { params: { query: { limit: 50, ...(q ? { q } : {}), ...(cursor ? { cursor } : {}) } } }))}
      toOption={(a) => ({ value: a.id, label: `${a.account_name} (${t(`status.${a.status}`)})` })}
    />
  );
}
