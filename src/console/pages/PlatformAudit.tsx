import { Input, Space } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap } from '../api/client';
import { AuditTable } from '../components/AuditTable';
import { useCursorPages } from '../components/CursorPager';
import { PageToolbar } from '../components/PageToolbar';
import { SearchSelect } from '../components/SearchSelect';

/**
 * The audit log of the whole platform for its admin, newest first (`GET /platform/audit-logs`, keyset
 * pages): tenants created, suspended, resumed, and every tenant's own entries; by tenant and by action.
 */
export default function PlatformAudit() {
  const { t } = useTranslation();
  const [tenantId, setTenantId] = useState<string | undefined>();
  const [action, setAction] = useState('');
  const filters = { ...(tenantId ? { tenant_id: tenantId } : {}), ...(action ? { action } : {}) };
  const list = useCursorPages(['platform-audit', filters], async (cursor) => unwrap(await api.GET('/api/v1/platform/audit-logs', { params: { query: { limit: 50, ...filters, ...(cursor ? { cursor } : {}) } } })));
  return (
    <div data-testid="platform-audit">
      <PageToolbar title={t('nav.audit')} />
      <Space wrap style={{ marginBottom: 12 }}>
        <SearchSelect
          value={tenantId}
          onChange={setTenantId}
          allowClear
          label={t('platform.tenant')}
          testId="platform-audit-tenant"
          listKey="platform-tenants"
          fetchPage={async (q, cursor) => unwrap(await api.GET('/api/v1/platform/tenants', { params: { query: { limit: 50, ...(q ? { q } : {}), ...(cursor ? { cursor } : {}) } } }))}
          toOption={(x) => ({ value: x.id, label: `${x.tenant_code} · ${x.tenant_name}` })}
        />
        <Input.Search allowClear placeholder={t('settings.actionHint')} aria-label={t('settings.action')} onSearch={(v) => setAction(v.trim())} style={{ width: 260 }} data-testid="platform-audit-action" />
      </Space>
      <AuditTable pages={list} testId="platform-audit-table" pagerTestId="platform-audit" withTenant />
    </div>
  );
}
