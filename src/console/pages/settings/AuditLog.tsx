import { Input } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap } from '../../api/client';
import { AuditTable } from '../../components/AuditTable';
import { useCursorPages } from '../../components/CursorPager';

/** Who did what to which target, when and from where; newest first, filtered by action (`template.*`). */
export function AuditLogTab() {
  const { t } = useTranslation();
  const [action, setAction] = useState('');
  const list = useCursorPages(['audit-logs', action], async (cursor) => unwrap(await api.GET('/api/v1/audit-logs', { params: { query: { limit: 50, ...(action ? { action } : {}), ...(cursor ? { cursor } : {}) } } })));
  return (
    <div data-testid="audit-log">
      <Input.Search allowClear placeholder={t('settings.actionHint')} aria-label={t('settings.action')} onSearch={(v) => setAction(v.trim())} style={{ width: 260, marginBottom: 8 }} data-testid="audit-action" />
      <AuditTable pages={list} testId="audit-table" pagerTestId="audit" />
    </div>
  );
}
