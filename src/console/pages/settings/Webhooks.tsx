import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, Drawer, Form, Input, InputNumber, Modal, Popconfirm, Select, Space, Switch, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap } from '../../api/client';
import type { components } from '../../api/schema';
import { CursorTable, useCursorPages } from '../../components/CursorPager';
import { StatusTag } from '../../components/StatusTag';
import { useCan } from '../../me';

type Endpoint = components['schemas']['WebhookEndpoint'];
type Delivery = components['schemas']['WebhookDelivery'];
type EndpointForm = Required<NonNullable<import('../../api/schema').paths['/api/v1/webhooks']['post']['requestBody']>['content']['application/json']>;
type EventType = EndpointForm['event_types'][number];
const EVENT_TYPES: EventType[] = ['*', 'message.sent', 'message.delivered', 'message.failed', 'task.status', 'task.completed', 'account.status', 'account.risk', 'conversation.message', 'webhook.endpoint_disabled'];

/** Tenant webhook endpoints: create (the secret shown once), edit, rotate the secret, delete; each one's delivery log with re-delivery. */
export function WebhooksTab() {
  const { t } = useTranslation();
  const qc = useQueryClient();
  const { message } = App.useApp();
  const canWrite = useCan('webhooks:write');
  const [editing, setEditing] = useState<Endpoint | 'new' | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [log, setLog] = useState<Endpoint | null>(null);
  const list = useCursorPages(['webhooks'], async (cursor) => unwrap(await api.GET('/api/v1/webhooks', { params: { query: { limit: 50, ...(cursor ? { cursor } : {}) } } })));
  const refresh = () => void qc.invalidateQueries({ queryKey: ['webhooks'] });
  const save = useMutation({
    mutationFn: async (v: EndpointForm) =>
      editing === 'new'
        ? unwrap(await api.POST('/api/v1/webhooks', { body: v }))
        : unwrap(await api.PATCH('/api/v1/webhooks/{id}', { params: { path: { id: (editing as Endpoint).id } }, body: v })),
    onSuccess: (r) => {
      setEditing(null);
      if ('secret' in r && typeof r.secret === 'string') setSecret(r.secret);
      refresh();
    },
    onError: (e) => void message.error(e.message),
  });
  const rotate = useMutation({
    mutationFn: async (id: string) => unwrap(await api.POST('/api/v1/webhooks/{id}/rotate-secret', { params: { path: { id } }, body: {} })),
    onSuccess: (r) => {
      setSecret(r.secret);
      refresh();
    },
    onError: (e) => void message.error(e.message),
  });
  const remove = useMutation({
    mutationFn: async (id: string) => unwrap(await api.DELETE('/api/v1/webhooks/{id}', { params: { path: { id } } })),
    onSuccess: refresh,
    onError: (e) => void message.error(e.message),
  });
  return (
    <Card size="small" data-testid="webhooks">
      {canWrite && (
        <Button type="primary" onClick={() => setEditing('new')} style={{ marginBottom: 8 }} data-testid="webhook-new">
          {t('webhooks.new')}
        </Button>
      )}
      {secret && (
        <Alert type="success" closable onClose={() => setSecret(null)} title={t('webhooks.shownOnce')} description={<Typography.Text copyable code data-testid="webhook-secret">{secret}</Typography.Text>} />
      )}
      <CursorTable<Endpoint>
        pages={list}
        testId="webhooks-table"
        pagerTestId="webhooks"
        scrollX={800}
        columns={[
          { title: t('webhooks.name'), dataIndex: 'name', render: (v: string, e) => <Typography.Link onClick={() => setLog(e)}>{v}</Typography.Link> },
          { title: t('webhooks.url'), dataIndex: 'url', ellipsis: true },
          { title: t('webhooks.events'), dataIndex: 'event_types', render: (v: string[]) => v.join(', ') },
          { title: t('webhooks.status'), render: (_: unknown, e) => <StatusTag status={e.active ? 'active' : 'disabled'} />, },
          { title: t('webhooks.disabledReason'), dataIndex: 'disabled_reason', ellipsis: true, render: (v: string | null) => v ?? '' },
          {
            title: t('common.actions'),
            render: (_: unknown, e) => (
              <Space size={4} wrap>
                <Button size="small" onClick={() => setLog(e)}>
                  {t('webhooks.log')}
                </Button>
                {canWrite && (
                  <>
                    <Button size="small" onClick={() => setEditing(e)}>
                      {t('common.edit')}
                    </Button>
                    <Popconfirm title={t('webhooks.confirmRotate')} onConfirm={() => rotate.mutate(e.id)}>
                      <Button size="small">{t('webhooks.rotate')}</Button>
                    </Popconfirm>
                    <Popconfirm title={t('webhooks.confirmDelete')} onConfirm={() => remove.mutate(e.id)}>
                      <Button size="small" danger>
                        {t('common.delete')}
                      </Button>
                    </Popconfirm>
                  </>
                )}
              </Space>
            ),
          },
        ]}
      />
      <Modal open={editing !== null} title={editing === 'new' ? t('webhooks.new') : t('common.edit')} onCancel={() => setEditing(null)} footer={null} destroyOnHidden>
        <Form<EndpointForm>
          layout="vertical"
          initialValues={editing && editing !== 'new' ? { name: editing.name, url: editing.url, event_types: editing.event_types as EventType[], active: editing.active, batch_max: editing.batch_max } : { event_types: ['*'], active: true, batch_max: 1 }}
          onFinish={(v) => save.mutate(v)}
        >
          <Form.Item name="name" label={t('webhooks.name')} rules={[{ required: true, message: t('form.required') }]}>
            <Input />
          </Form.Item>
          <Form.Item name="url" label={t('webhooks.url')} rules={[{ required: true, message: t('form.required') }]}>
            <Input placeholder="https://crm.example.com/hooks/wework" />
          </Form.Item>
          <Form.Item name="event_types" label={t('webhooks.events')} rules={[{ required: true, message: t('form.required') }]}>
            <Select mode="multiple" options={EVENT_TYPES.map((e) => ({ value: e, label: e === '*' ? t('webhooks.allEvents') : e }))} />
          </Form.Item>
          <Form.Item name="batch_max" label={t('webhooks.batchMax')} extra={t('webhooks.batchHint')}>
            <InputNumber min={1} max={500} />
          </Form.Item>
          <Form.Item name="active" label={t('webhooks.active')} valuePropName="checked">
            <Switch />
          </Form.Item>
          <Button type="primary" htmlType="submit" loading={save.isPending} data-testid="webhook-save">
            {t('common.save')}
          </Button>
        </Form>
      </Modal>
      <Drawer open={Boolean(log)} onClose={() => setLog(null)} title={log ? `${t('webhooks.log')}: ${log.name}` : ''} width={720}>
        {log && <DeliveryLog endpoint={log} canWrite={canWrite} />}
      </Drawer>
    </Card>
  );
}

function DeliveryLog({ endpoint, canWrite }: { endpoint: Endpoint; canWrite: boolean }) {
  const { t } = useTranslation();
  const qc = useQueryClient();
  const { message } = App.useApp();
  const id = endpoint.id;
  const list = useCursorPages(['webhook-deliveries', id], async (cursor) => unwrap(await api.GET('/api/v1/webhooks/{id}/deliveries', { params: { path: { id }, query: { limit: 50, ...(cursor ? { cursor } : {}) } } })));
  const redeliver = useMutation({
    mutationFn: async (deliveryId: string) => unwrap(await api.POST('/api/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver', { params: { path: { id, deliveryId } } })),
    onSuccess: () => {
      void message.success(t('webhooks.redelivered'));
      void qc.invalidateQueries({ queryKey: ['webhook-deliveries', id] });
    },
    onError: (e) => void message.error(e.message),
  });
  return (
    <>
      <CursorTable<Delivery>
        pages={list}
        testId="webhook-deliveries"
        pagerTestId="webhook-deliveries"
        scrollX={700}
        columns={[
          { title: t('webhooks.created'), dataIndex: 'created_at', render: (v: string) => new Date(v).toLocaleString() },
          { title: t('webhooks.event'), dataIndex: 'event_type', render: (v: string, d) => (d.event_count > 1 ? `${v} ×${d.event_count}` : v) },
          { title: t('webhooks.status'), dataIndex: 'status', render: (s: string) => <StatusTag status={s} /> },
          { title: t('webhooks.attempts'), dataIndex: 'attempts' },
          { title: 'HTTP', dataIndex: 'last_status_code', render: (v: number | null) => v ?? '—' },
          { title: t('webhooks.latency'), dataIndex: 'last_latency_ms', render: (v: number | null) => (v === null ? '—' : `${v} ms`) },
          { title: t('webhooks.response'), render: (_: unknown, d) => <Typography.Text ellipsis={{ tooltip: true }} style={{ maxWidth: 160 }}>{d.last_error ?? d.last_response ?? ''}</Typography.Text> },
          ...(canWrite && endpoint.active
            ? [
                {
                  title: t('common.actions'),
                  render: (_: unknown, d: Delivery) => (
                    <Button size="small" onClick={() => redeliver.mutate(d.id)} data-testid={`webhook-redeliver-${d.id}`}>
                      {t('webhooks.redeliver')}
                    </Button>
                  ),
                },
              ]
            : []),
        ]}
      />
    </>
  );
}
