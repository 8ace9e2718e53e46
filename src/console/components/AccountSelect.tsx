import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Select } from 'antd';
import { useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap } from '../api/client';

/** The tenant's first accounts (for names in tables); pickers search the server instead. */
export function useAccountOptions() {
  const accounts = useQuery({ queryKey: ['accounts'], queryFn: async () => unwrap(await api.GET('/api/v1/accounts', { params: { query: { limit: 200 } } })) });
  const rows = accounts.data?.data ?? [];
  return { rows, nameOf: (id: string | null | undefined) => rows.find((a) => a.id === id)?.account_name ?? id ?? '' };
}

type Props = { allowClear?: boolean; testId?: string; label: string; style?: React.CSSProperties } & (
  | { mode?: undefined; value?: string; onChange: (v: string | undefined) => void }
  | { mode: 'multiple'; value?: string[]; onChange: (v: string[]) => void }
);

/**
 * An account picker that asks the server (`?q=`, 50 at a time) as the operator types, so a tenant with
 * thousands of accounts can still pick any of them.
 */
export function AccountSelect(props: Props) {
  const { t } = useTranslation();
  const [q, setQ] = useState('');
  const found = useQuery({
    queryKey: ['accounts', 'search', q],
    queryFn: async () => unwrap(await api.GET('/api/v1/accounts', { params: { query: { limit: 50, ...(q ? { q } : {}) } } })),
    placeholderData: keepPreviousData,
  });
  // Picked accounts keep their names while the search shows others.
  const known = useRef(new Map<string, string>()).current;
  const options = (found.data?.data ?? []).map((a) => ({ value: a.id, label: `${a.account_name} (${t(`status.${a.status}`)})` }));
  for (const o of options) known.set(o.value, o.label);
  const picked = (props.mode === 'multiple' ? (props.value ?? []) : props.value ? [props.value] : []).filter((id) => !options.some((o) => o.value === id));
  const all = [...options, ...picked.map((id) => ({ value: id, label: known.get(id) ?? id }))];
  return (
    <Select
      mode={props.mode}
      value={props.value}
      onChange={(v: string | string[] | undefined) => (props.onChange as (v: unknown) => void)(v)}
      allowClear={props.allowClear}
      options={all}
      placeholder={props.label}
      aria-label={props.label}
      data-testid={props.testId}
      showSearch={{ filterOption: false, onSearch: (v) => setQ(v.trim()) }}
      loading={found.isFetching}
      style={{ minWidth: 200, ...props.style }}
    />
  );
}
