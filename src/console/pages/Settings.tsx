import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, Form, Input, Modal, Select, Space, Tabs, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap } from '../api/client';
import { CursorTable, useCursorPages } from '../components/CursorPager';
import { PageToolbar } from '../components/PageToolbar';
import { AuditLogTab } from './settings/AuditLog';
import { WecomCallbackTab } from './settings/WecomCallback';
import { CampaignControlsTab } from './settings/CampaignControls';
import { WebhooksTab } from './settings/Webhooks';
import { StatusTag } from '../components/StatusTag';
import { useCan, useMe } from '../me';

export default function Settings() {
  const { t } = useTranslation();
  const canUsers = useCan('users:read');
  const canRoles = useCan('roles:read');
  const canKeys = useCan('api_keys:read');
  const canAudit = useCan('audit:read');
  const canTenant = useCan('tenant:read');
  const canWebhooks = useCan('webhooks:read');
  return (
    <div data-testid="settings">
      <PageToolbar title={t('nav.settings')} />
      <Tabs
        items={[
          ...(canUsers ? [{ key: 'users', label: t('settings.users'), children: <Users /> }] : []),
          ...(canRoles ? [{ key: 'roles', label: t('settings.roles'), children: <Roles /> }] : []),
          ...(canKeys ? [{ key: 'keys', label: t('settings.apiKeys'), children: <ApiKeys /> }] : []),
          ...(canTenant ? [{ key: 'wecom', label: t('settings.wecom'), children: <WecomCallbackTab /> }] : []),
          ...(canTenant ? [{ key: 'controls', label: t('settings.controls'), children: <CampaignControlsTab /> }] : []),
          ...(canWebhooks ? [{ key: 'webhooks', label: t('webhooks.tab'), children: <WebhooksTab /> }] : []),
          ...(canAudit ? [{ key: 'audit', label: t('settings.audit'), children: <AuditLogTab /> }] : []),
        ]}
      />
    </div>
  );
}

function Users() {
  const { t } = useTranslation();
  const users = useCursorPages(['users', 'page'], async (cursor) => unwrap(await api.GET('/api/v1/users', { params: { query: { limit: 50, ...(cursor ? { cursor } : {}) } } })));
  return (
    <>
    <CursorTable
      pages={users}
      pagerTestId="users"
      scrollX={500}
      columns={[
        { title: t('settings.username'), dataIndex: 'username' },
        { title: t('settings.status'), dataIndex: 'status', render: (s: string) => <StatusTag status={s} /> },
        { title: t('settings.roles'), dataIndex: 'roles', render: (r: Array<{ name: string }> | undefined) => (r ?? []).map((x) => x.name).join(', ') },
      ]}
    />
    </>
  );
}

function Roles() {
  const { t } = useTranslation();
  const roles = useCursorPages(['roles', 'page'], async (cursor) => unwrap(await api.GET('/api/v1/roles', { params: { query: { limit: 50, ...(cursor ? { cursor } : {}) } } })));
  return (
    <>
    <CursorTable
      pages={roles}
      pagerTestId="roles"
      scrollX={500}
      columns={[
        { title: t('settings.role'), dataIndex: 'name' },
        { title: t('settings.permissions'), dataIndex: 'permissions', render: (p: string[]) => <Typography.Text type="secondary">{p.join(', ')}</Typography.Text> },
      ]}
    />
    </>
  );
}

function ApiKeys() {
  const { t } = useTranslation();
  const qc = useQueryClient();
  const { message } = App.useApp();
  const canWrite = useCan('api_keys:write');
  const mine = useMe().data?.permissions ?? [];
  const [open, setOpen] = useState(false);
  const [secret, setSecret] = useState<string | null>(null);
  const keys = useCursorPages(['api-keys', 'page'], async (cursor) => unwrap(await api.GET('/api/v1/api-keys', { params: { query: { limit: 50, ...(cursor ? { cursor } : {}) } } })));
  const perms = useQuery({ queryKey: ['permissions'], queryFn: async () => unwrap(await api.GET('/api/v1/permissions')) });
  const create = useMutation({
    mutationFn: async (v: { name: string; permissions: string[] }) => unwrap(await api.POST('/api/v1/api-keys', { body: v })),
    onSuccess: (r) => {
      setOpen(false);
      setSecret((r as { key?: string; secret?: string }).key ?? (r as { secret?: string }).secret ?? null);
      void qc.invalidateQueries({ queryKey: ['api-keys'] });
    },
    onError: (e) => void message.error(e.message),
  });
  const revoke = useMutation({
    mutationFn: async (id: string) => unwrap(await api.DELETE('/api/v1/api-keys/{id}', { params: { path: { id } } })),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['api-keys'] }),
  });
  const grantable = ((perms.data as { permissions?: string[] } | undefined)?.permissions ?? []).filter((p) => mine.includes('*') || mine.includes(p));
  return (
    <Card size="small">
      {canWrite && (
        <Button type="primary" onClick={() => setOpen(true)} style={{ marginBottom: 8 }}>
          {t('settings.newKey')}
        </Button>
      )}
      {secret && <Alert type="success" closable onClose={() => setSecret(null)} title={t('settings.shownOnce')} description={<Typography.Text copyable code>{secret}</Typography.Text>} />}
      <CursorTable
        pages={keys}
        pagerTestId="api-keys"
        scrollX={500}
        columns={[
          { title: t('settings.keyName'), dataIndex: 'name' },
          { title: t('settings.prefix'), dataIndex: 'key_prefix' },
          { title: t('settings.permissions'), dataIndex: 'permissions', render: (p: string[]) => p.join(', ') },
          {
            title: t('common.actions'),
            render: (_: unknown, k: { id: string; revoked_at?: string | null }) =>
              canWrite && !k.revoked_at ? (
                <Button size="small" danger onClick={() => revoke.mutate(k.id)}>
                  {t('settings.revoke')}
                </Button>
              ) : null,
          },
        ]}
      />
      <Modal open={open} title={t('settings.newKey')} onCancel={() => setOpen(false)} footer={null} destroyOnHidden>
        <Form layout="vertical" onFinish={(v: { name: string; permissions: string[] }) => create.mutate(v)}>
          <Form.Item name="name" label={t('settings.keyName')} rules={[{ required: true, message: t('form.required') }]}>
            <Input />
          </Form.Item>
          <Form.Item name="permissions" label={t('settings.permissions')} rules={[{ required: true, message: t('form.required') }]}>
            <Select mode="multiple" options={grantable.map((p) => ({ value: p, label: p }))} />
          </Form.Item>
          <Space>
            <Button type="primary" htmlType="submit" loading={create.isPending}>
              {t('common.create')}
            </Button>
          </Space>
        </Form>
      </Modal>
    </Card>
  );
}
