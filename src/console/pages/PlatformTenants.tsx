import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Form, Input, InputNumber, Modal, Popconfirm, Segmented, Space } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap } from '../api/client';
import type { components } from '../api/schema';
import { CursorTable, useCursorPages } from '../components/CursorPager';
import { PageToolbar } from '../components/PageToolbar';
import { StatusTag } from '../components/StatusTag';

type Tenant = components['schemas']['Tenant'];
type StatusFilter = 'all' | 'active' | 'suspended';
interface QuotaValues {
  plan: string;
  max_accounts: number;
  max_daily_messages: number;
}
interface CreateValues extends QuotaValues {
  tenant_code: string;
  tenant_name: string;
  timezone?: string;
  admin_username?: string;
  admin_email?: string;
  admin_password?: string;
}

/** The platform admin's tenants: plan and quotas, suspend and resume, new tenants. */
export default function Tenants() {
  const { t } = useTranslation();
  const qc = useQueryClient();
  const { message } = App.useApp();
  const [status, setStatus] = useState<StatusFilter>('all');
  const [search, setSearch] = useState('');
  const [editing, setEditing] = useState<Tenant | null>(null);
  const [creating, setCreating] = useState(false);
  const filters = { ...(status !== 'all' ? { status } : {}), ...(search ? { q: search } : {}) };
  const list = useCursorPages(['platform-tenants', filters], async (cursor) => unwrap(await api.GET('/api/v1/platform/tenants', { params: { query: { limit: 50, ...filters, ...(cursor ? { cursor } : {}) } } })));
  const transition = useMutation({
    mutationFn: async ({ id, action }: { id: string; action: 'suspend' | 'resume' }) => unwrap(await api.POST(`/api/v1/platform/tenants/{id}/${action}` as '/api/v1/platform/tenants/{id}/suspend', { params: { path: { id } } })),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['platform-tenants'] }),
    onError: (e) => void message.error(e.message),
  });
  return (
    <div data-testid="platform-tenants">
      <PageToolbar title={t('nav.tenants')}>
        <Button type="primary" onClick={() => setCreating(true)} data-testid="tenant-create">
          {t('platform.create')}
        </Button>
      </PageToolbar>
      <Space wrap style={{ marginBottom: 12 }}>
        <Segmented
          value={status}
          onChange={(v) => setStatus(v as StatusFilter)}
          options={[
            { value: 'all', label: t('tasks.all') },
            { value: 'active', label: t('status.active') },
            { value: 'suspended', label: t('status.suspended') },
          ]}
        />
        <Input.Search allowClear placeholder={t('platform.code')} aria-label={t('platform.code')} onSearch={(v) => setSearch(v.trim())} style={{ width: 220 }} />
      </Space>
      <CursorTable<Tenant>
        pages={list}
        testId="tenants-table"
        pagerTestId="tenants"
        scrollX={900}
        columns={[
          { title: t('platform.code'), dataIndex: 'tenant_code' },
          { title: t('platform.name'), dataIndex: 'tenant_name' },
          { title: t('platform.plan'), dataIndex: 'plan' },
          { title: t('platform.maxAccounts'), dataIndex: 'max_accounts' },
          { title: t('platform.maxDaily'), dataIndex: 'max_daily_messages' },
          { title: t('platform.timezone'), dataIndex: 'timezone' },
          { title: t('platform.status'), dataIndex: 'status', render: (s: string, r) => <StatusTag status={s} testId={`tenant-status-${r.tenant_code}`} /> },
          {
            title: t('common.actions'),
            render: (_: unknown, r) => (
              <Space wrap>
                <Button size="small" onClick={() => setEditing(r)} data-testid={`tenant-quotas-${r.tenant_code}`}>
                  {t('platform.quotas')}
                </Button>
                {r.status === 'active' && (
                  <Popconfirm title={t('platform.confirmSuspend', { name: r.tenant_name })} onConfirm={() => transition.mutate({ id: r.id, action: 'suspend' })} okText={t('platform.suspend')} cancelText={t('common.cancel')}>
                    <Button size="small" danger data-testid={`tenant-suspend-${r.tenant_code}`}>
                      {t('platform.suspend')}
                    </Button>
                  </Popconfirm>
                )}
                {r.status === 'suspended' && (
                  <Button size="small" onClick={() => transition.mutate({ id: r.id, action: 'resume' })} data-testid={`tenant-resume-${r.tenant_code}`}>
                    {t('platform.resume')}
                  </Button>
                )}
              </Space>
            ),
          },
        ]}
      />
      {editing && <QuotaDialog tenant={editing} onClose={() => setEditing(null)} />}
      {creating && <CreateDialog onClose={() => setCreating(false)} />}
    </div>
  );
}

function QuotaFields() {
  const { t } = useTranslation();
  return (
    <Space wrap>
      <Form.Item label={t('platform.plan')} name="plan" rules={[{ required: true, whitespace: true, message: t('form.required') }]}>
        <Input data-testid="tenant-plan" />
      </Form.Item>
      <Form.Item label={t('platform.maxAccounts')} name="max_accounts" rules={[{ required: true, message: t('form.required') }]}>
        <InputNumber min={0} max={1_000_000} data-testid="tenant-max-accounts" />
      </Form.Item>
      <Form.Item label={t('platform.maxDaily')} name="max_daily_messages" rules={[{ required: true, message: t('form.required') }]}>
        <InputNumber min={0} max={1_000_000_000} data-testid="tenant-max-daily" />
      </Form.Item>
    </Space>
  );
}

function QuotaDialog({ tenant, onClose }: { tenant: Tenant; onClose: () => void }) {
  const { t } = useTranslation();
  const qc = useQueryClient();
  const [form] = Form.useForm<QuotaValues>();
  const save = useMutation({
    mutationFn: async (v: QuotaValues) => unwrap(await api.PATCH('/api/v1/platform/tenants/{id}', { params: { path: { id: tenant.id } }, body: { plan: v.plan.trim(), max_accounts: v.max_accounts, max_daily_messages: v.max_daily_messages } })),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['platform-tenants'] });
      onClose();
    },
  });
  return (
    <Modal open title={`${t('platform.quotas')} · ${tenant.tenant_name}`} onCancel={onClose} onOk={() => form.submit()} okText={t('common.save')} okButtonProps={{ loading: save.isPending, ...({ 'data-testid': 'tenant-quotas-save' } as object) }}>
      <Form form={form} layout="vertical" initialValues={{ plan: tenant.plan, max_accounts: tenant.max_accounts, max_daily_messages: tenant.max_daily_messages }} onFinish={(v) => save.mutate(v)}>
        <QuotaFields />
        {save.error && <Alert type="error" role="alert" title={save.error.message} />}
      </Form>
    </Modal>
  );
}

function CreateDialog({ onClose }: { onClose: () => void }) {
  const { t } = useTranslation();
  const qc = useQueryClient();
  const [form] = Form.useForm<CreateValues>();
  const save = useMutation({
    mutationFn: async (v: CreateValues) =>
      unwrap(
        await api.POST('/api/v1/platform/tenants', {
          body: {
            tenant_code: v.tenant_code.trim(),
            tenant_name: v.tenant_name.trim(),
            plan: v.plan.trim(),
            max_accounts: v.max_accounts,
            max_daily_messages: v.max_daily_messages,
            ...(v.timezone ? { timezone: v.timezone.trim() } : {}),
            ...(v.admin_username && v.admin_email && v.admin_password ? { admin: { username: v.admin_username.trim(), email: v.admin_email.trim(), password: v.admin_password } } : {}),
          },
        }),
      ),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['platform-tenants'] });
      onClose();
    },
  });
  return (
    <Modal open title={t('platform.create')} onCancel={onClose} onOk={() => form.submit()} okText={t('common.create')} okButtonProps={{ loading: save.isPending, ...({ 'data-testid': 'tenant-create-submit' } as object) }} width={640}>
      <Form form={form} layout="vertical" initialValues={{ plan: 'basic', max_accounts: 10, max_daily_messages: 10_000, timezone: 'Asia/Shanghai' }} onFinish={(v) => save.mutate(v)}>
        <Space wrap>
          <Form.Item label={t('platform.code')} name="tenant_code" rules={[{ required: true, pattern: /^[a-z0-9][a-z0-9_-]{1,49}$/, message: 'a-z 0-9 _ -' }]}>
            <Input data-testid="tenant-code" />
          </Form.Item>
          <Form.Item label={t('platform.name')} name="tenant_name" rules={[{ required: true, whitespace: true, message: t('form.required') }]}>
            <Input data-testid="tenant-name" />
          </Form.Item>
          <Form.Item label={t('platform.timezone')} name="timezone">
            <Input />
          </Form.Item>
        </Space>
        <QuotaFields />
        <Space wrap>
          <Form.Item label={t('platform.adminUsername')} name="admin_username">
            <Input autoComplete="off" />
          </Form.Item>
          <Form.Item label="Email" name="admin_email">
            <Input type="email" autoComplete="off" />
          </Form.Item>
          <Form.Item label={t('platform.adminPassword')} name="admin_password">
            <Input.Password autoComplete="new-password" />
          </Form.Item>
        </Space>
        {save.error && <Alert type="error" role="alert" title={save.error.message} data-testid="tenant-create-error" />}
      </Form>
    </Modal>
  );
}
