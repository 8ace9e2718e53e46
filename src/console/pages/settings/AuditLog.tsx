import { Input, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap } from '../../api/client';
import type { components } from '../../api/schema';
import { CursorTable, useCursorPages } from '../../components/CursorPager';

type AuditLog = components['schemas']['AuditLog'];

/** Who did what to which target, when and from where; newest first, filtered by action (`template.*`). */
export function AuditLogTab() {
  const { t } = useTranslation();
  const [action, setAction] = useState('');
  const list = useCursorPages(['audit-logs', action], async (cursor) => unwrap(await api.GET('/api/v1/audit-logs', { params: { query: { limit: 50, ...(action ? { action } : {}), ...(cursor ? { cursor } : {}) } } })));
  return (
    <div data-testid="audit-log">
      <Input.Search allowClear placeholder={t('settings.actionHint')} aria-label={t('settings.action')} onSearch={(v) => setAction(v.trim())} style={{ width: 260, marginBottom: 8 }} data-testid="audit-action" />
      <CursorTable<AuditLog>
        pages={list}
        testId="audit-table"
        pagerTestId="audit"
        scrollX={800}
        columns={[
          { title: t('settings.time'), dataIndex: 'created_at', render: (v: string) => new Date(v).toLocaleString() },
          { title: t('settings.action'), dataIndex: 'action', render: (v: string) => <Typography.Text code>{v}</Typography.Text> },
          { title: t('settings.actor'), dataIndex: 'actor_type', render: (v: string, r) => `${v}${r.actor_id ? ` ${r.actor_id.slice(0, 8)}` : ''}` },
          { title: t('settings.target'), dataIndex: 'target_type', render: (v: string | null, r) => (v ? `${v}${r.target_id ? ` ${r.target_id.slice(0, 8)}` : ''}` : '—') },
          { title: t('settings.ip'), dataIndex: 'ip', render: (v: string | null) => v ?? '—' },
        ]}
      />
    </div>
  );
}
