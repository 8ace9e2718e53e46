import { useQuery } from '@tanstack/react-query';
import { Select } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, unwrap } from '../api/client';

/** The tenant's accounts as a picker (the first 200 by name search on the server's order). */
export function useAccountOptions() {
  const { t } = useTranslation();
  const accounts = useQuery({ queryKey: ['accounts'], queryFn: async () => unwrap(await api.GET('/api/v1/accounts', { params: { query: { limit: 200 } } })) });
  const rows = accounts.data?.data ?? [];
  return {
    rows,
    options: rows.map((a) => ({ value: a.id, label: `${a.account_name} (${t(`status.${a.status}`)})` })),
    nameOf: (id: string | null | undefined) => rows.find((a) => a.id === id)?.account_name ?? id ?? '',
  };
}

export function AccountSelect({ value, onChange, allowClear, testId, label, style }: { value?: string; onChange: (v: string | undefined) => void; allowClear?: boolean; testId?: string; label: string; style?: React.CSSProperties }) {
  const { options } = useAccountOptions();
  return (
    <Select
      value={value}
      onChange={onChange}
      allowClear={allowClear}
      options={options}
      placeholder={label}
      aria-label={label}
      data-testid={testId}
      showSearch={{ optionFilterProp: 'label' }}
      style={{ minWidth: 200, ...style }}
    />
  );
}
