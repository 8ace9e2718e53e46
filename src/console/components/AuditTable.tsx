import { Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import type { components } from '../api/schema';
import { CursorTable, type useCursorPages } from './CursorPager';

/** A tenant's entry, or a platform one naming its tenant's code. */
type AuditLog = components['schemas']['AuditLog'] & { tenant_code?: string | null };
const short = (id: string | null) => (id ? ` ${id.slice(0, 8)}` : '');

/** Audit entries, newest first: when, (whose tenant,) what, who, to which target, from where. */
export function AuditTable({ pages, testId, pagerTestId, withTenant = false }: { pages: ReturnType<typeof useCursorPages<AuditLog>>; testId: string; pagerTestId: string; withTenant?: boolean }) {
  const { t } = useTranslation();
  return (
    <CursorTable<AuditLog>
      pages={pages}
      testId={testId}
      pagerTestId={pagerTestId}
      scrollX={withTenant ? 900 : 800}
      columns={[
        { title: t('settings.time'), dataIndex: 'created_at', render: (v: string) => new Date(v).toLocaleString() },
        ...(withTenant ? [{ title: t('platform.tenant'), dataIndex: 'tenant_code', render: (v: string | null | undefined) => v ?? '—' }] : []),
        { title: t('settings.action'), dataIndex: 'action', render: (v: string) => <Typography.Text code>{v}</Typography.Text> },
        { title: t('settings.actor'), dataIndex: 'actor_type', render: (v: string, r: AuditLog) => `${v}${short(r.actor_id)}` },
        { title: t('settings.target'), dataIndex: 'target_type', render: (v: string | null, r: AuditLog) => (v ? `${v}${short(r.target_id)}` : '—') },
        { title: t('settings.ip'), dataIndex: 'ip', render: (v: string | null) => v ?? '—' },
      ]}
    />
  );
}
