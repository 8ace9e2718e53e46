import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { App, Button, Descriptions, Drawer, Input, Segmented, Space, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap } from '../api/client';
import type { components } from '../api/schema';
import { CursorTable, useCursorPages } from '../components/CursorPager';
import { PageToolbar } from '../components/PageToolbar';
import { StatusTag } from '../components/StatusTag';
import { useCan } from '../me';

type CallbackEvent = components['schemas']['CallbackEvent'];
const STATUSES = ['all', 'failed', 'received', 'processing', 'processed', 'ignored'] as const;
type StatusFilter = (typeof STATUSES)[number];

/** Callback events as stored before processing: filter them, read one, re-drive the failed ones. */
export default function Callbacks() {
  const { t } = useTranslation();
  const qc = useQueryClient();
  const { message } = App.useApp();
  const canRedrive = useCan('callbacks:redrive');
  const [status, setStatus] = useState<StatusFilter>('all');
  const [eventType, setEventType] = useState('');
  const [guid, setGuid] = useState('');
  const [open, setOpen] = useState<string | null>(null);
  const filters = { ...(status !== 'all' ? { status } : {}), ...(eventType ? { event_type: eventType } : {}), ...(guid ? { guid } : {}) };
  const list = useCursorPages(['callback-events', filters], async (cursor) => unwrap(await api.GET('/api/v1/callbacks/events', { params: { query: { limit: 50, ...filters, ...(cursor ? { cursor } : {}) } } })));
  const done = (count: number) => {
    void message.success(t('callbacks.redriven', { count }));
    void qc.invalidateQueries({ queryKey: ['callback-events'] });
  };
  const redriveOne = useMutation({
    mutationFn: async (id: string) => unwrap(await api.POST('/api/v1/callbacks/events/{id}/redrive', { params: { path: { id } } })),
    onSuccess: () => done(1),
    onError: (e) => void message.error(e.message),
  });
  const failedHere = list.rows.filter((e) => e.status === 'failed').map((e) => e.id);
  const redrivePage = useMutation({
    mutationFn: async () => unwrap(await api.POST('/api/v1/callbacks/events/redrive', { body: { ids: failedHere } })),
    onSuccess: (r) => done(r.redriven),
    onError: (e) => void message.error(e.message),
  });

  return (
    <div data-testid="callbacks">
      <PageToolbar title={t('nav.callbacks')}>
        {canRedrive && failedHere.length > 0 && (
          <Button onClick={() => redrivePage.mutate()} loading={redrivePage.isPending} data-testid="callbacks-redrive-page">
            {t('callbacks.redriveFailed')} ({failedHere.length})
          </Button>
        )}
      </PageToolbar>
      <Space wrap style={{ marginBottom: 12 }}>
        <Segmented value={status} onChange={(v) => setStatus(v as StatusFilter)} options={STATUSES.map((s) => ({ value: s, label: s === 'all' ? t('tasks.all') : t(`callbacks.statuses.${s}`) }))} data-testid="callbacks-status" />
        <Input.Search allowClear placeholder={t('callbacks.event')} aria-label={t('callbacks.event')} onSearch={(v) => setEventType(v.trim())} style={{ width: 180 }} />
        <Input.Search allowClear placeholder={t('callbacks.guid')} aria-label={t('callbacks.guid')} onSearch={(v) => setGuid(v.trim())} style={{ width: 220 }} />
      </Space>
      <CursorTable<CallbackEvent>
        pages={list}
        testId="callbacks-table"
        pagerTestId="callbacks"
        scrollX={900}
        columns={[
          { title: t('callbacks.received'), dataIndex: 'received_time', render: (v: string) => new Date(v).toLocaleString() },
          { title: t('callbacks.event'), dataIndex: 'event_type', render: (v: string, e) => <Typography.Link onClick={() => setOpen(e.id)}>{v}</Typography.Link> },
          { title: t('callbacks.notifyType'), dataIndex: 'notify_type' },
          { title: t('callbacks.guid'), dataIndex: 'guid', ellipsis: true },
          { title: t('callbacks.status'), dataIndex: 'status', render: (s: string) => <StatusTag status={s} testId={`callback-status-${s}`} /> },
          { title: t('callbacks.error'), dataIndex: 'error_message', ellipsis: true, render: (v: string | null) => v ?? '' },
          { title: t('callbacks.retries'), dataIndex: 'retry_count' },
          ...(canRedrive
            ? [
                {
                  title: t('common.actions'),
                  render: (_: unknown, e: CallbackEvent) =>
                    e.status === 'failed' ? (
                      <Button size="small" onClick={() => redriveOne.mutate(e.id)} data-testid={`callback-redrive-${e.id}`}>
                        {t('callbacks.redrive')}
                      </Button>
                    ) : null,
                },
              ]
            : []),
        ]}
      />
      <Drawer open={Boolean(open)} onClose={() => setOpen(null)} title={t('callbacks.detail')} width={560}>
        {open && <EventDetail id={open} />}
      </Drawer>
    </div>
  );
}

function EventDetail({ id }: { id: string }) {
  const { t } = useTranslation();
  const e = useQuery({ queryKey: ['callback-event', id], queryFn: async () => unwrap(await api.GET('/api/v1/callbacks/events/{id}', { params: { path: { id } } })) });
  if (!e.data) return null;
  return (
    <Descriptions column={1} size="small" bordered data-testid="callback-detail">
      <Descriptions.Item label={t('callbacks.event')}>{e.data.event_type}</Descriptions.Item>
      <Descriptions.Item label={t('callbacks.status')}>
        <StatusTag status={e.data.status} />
      </Descriptions.Item>
      <Descriptions.Item label={t('callbacks.error')}>{e.data.error_message ?? '—'}</Descriptions.Item>
      <Descriptions.Item label={t('callbacks.raw')}>
        <pre style={{ whiteSpace: 'pre-wrap', wordBreak: 'break-all', margin: 0 }}>{e.data.raw_data}</pre>
      </Descriptions.Item>
    </Descriptions>
  );
}
