import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, Col, Descriptions, Progress, Row, Segmented, Statistic, Tag } from 'antd';
import { useCallback, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useNavigate, useParams } from 'react-router';
import { ApiError, api, unwrap } from '../api/client';
import type { components } from '../api/schema';
import { CursorTable, useCursorPages } from '../components/CursorPager';
import { PageToolbar } from '../components/PageToolbar';
import { DryRunModal } from '../components/DryRunModal';
import { StatusTag } from '../components/StatusTag';
import { useCan } from '../me';
import { useLiveEvent, useLiveInvalidate } from '../realtime';

type Progress = components['schemas']['TaskProgress'];
type Recipient = components['schemas']['TaskRecipient'];
const FILTERS = ['all', 'failed', 'unknown', 'pending', 'sent', 'delivered', 'skipped', 'cancelled'] as const;
type DryRun = components['schemas']['TaskDryRun'];

export default function TaskDetail() {
  const { id = '' } = useParams();
  const { t } = useTranslation();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const { message, modal } = App.useApp();
  const canControl = useCan('tasks:control');
  const canWrite = useCan('tasks:write');
  const [filter, setFilter] = useState<(typeof FILTERS)[number]>('all');

  const task = useQuery({ queryKey: ['task', id], queryFn: async () => unwrap(await api.GET('/api/v1/tasks/{id}', { params: { path: { id } } })) });
  const progress = useQuery({ queryKey: ['task-progress', id], queryFn: async () => unwrap(await api.GET('/api/v1/tasks/{id}/progress', { params: { path: { id } } })) });
  const summary = useQuery({ queryKey: ['task-summary', id], queryFn: async () => unwrap(await api.GET('/api/v1/tasks/{id}/recipients/summary', { params: { path: { id } } })) });
  const recipients = useCursorPages(['task-recipients', id, filter], async (cursor) =>
    unwrap(await api.GET('/api/v1/tasks/{id}/recipients', { params: { path: { id }, query: { limit: 20, ...(filter !== 'all' ? { status: filter } : {}), ...(cursor ? { cursor } : {}) } } })),
  );

  // Live: task.progress carries counts, percent, rate and ETA; the tables follow, re-read at most once a second.
  const onProgress = useCallback(
    (e: Progress) => {
      if (e.task_id === id) qc.setQueryData(['task-progress', id], e);
    },
    [id, qc],
  );
  useLiveInvalidate<Progress>('task.progress', [['task-summary', id], ['task-recipients', id]], { when: (e) => e.task_id === id });
  const onStatus = useCallback(
    (e: { task_id: string }) => {
      if (e.task_id !== id) return;
      void qc.invalidateQueries({ queryKey: ['task', id] });
      void qc.invalidateQueries({ queryKey: ['task-progress', id] });
    },
    [id, qc],
  );
  useLiveEvent('task.progress', onProgress);
  useLiveEvent('task.status', onStatus);

  const act = useMutation({
    mutationFn: async (action: 'start' | 'pause' | 'resume' | 'cancel') => unwrap(await api.POST(`/api/v1/tasks/{id}/${action}` as '/api/v1/tasks/{id}/pause', { params: { path: { id } } })),
    onSuccess: (row) => {
      qc.setQueryData(['task', id], row);
      void qc.invalidateQueries({ queryKey: ['task-progress', id] });
    },
    onError: (e) => void message.error(e.message),
  });
  // Permanent failures (no such conversation, not a friend, …) are left out of a retry unless the
  // operator, told that only those are left, asks for them too.
  const retry = useMutation({
    mutationFn: async (includePermanent: boolean) =>
      unwrap(await api.POST('/api/v1/tasks/{id}/retry-failed', { params: { path: { id } }, body: { start: true, include_permanent: includePermanent } })),
    onSuccess: (row) => navigate(`/tasks/${row.id}`),
    onError: (e, includePermanent) => {
      if (e instanceof ApiError && e.code === 'nothing_to_retry' && !includePermanent) {
        modal.confirm({
          title: t('tasks.onlyPermanent'),
          okText: t('tasks.retryPermanent'),
          cancelText: t('common.cancel'),
          okButtonProps: { 'data-testid': 'task-retry-permanent' } as Record<string, string>,
          onOk: () => retry.mutate(true),
        });
        return;
      }
      void message.error(e.message);
    },
  });

  // A draft with the same accounts, audience, content and strategy: the operator reviews and starts it.
  const clone = useMutation({
    mutationFn: async () => unwrap(await api.POST('/api/v1/tasks/{id}/clone', { params: { path: { id } }, body: {} })),
    onSuccess: (row) => {
      void message.success(t('tasks.cloned'));
      navigate(`/tasks/${row.id}`);
    },
    onError: (e) => void message.error(e.message),
  });
  const [dryRun, setDryRun] = useState<DryRun | null>(null);
  const preview = useMutation({
    mutationFn: async () => unwrap(await api.GET('/api/v1/tasks/{id}/preview', { params: { path: { id } } })),
    onSuccess: (r) => setDryRun(r),
    onError: (e) => void message.error(e.message),
  });

  const canExport = useCan('files:write');
  const exportReport = useMutation({
    mutationFn: async () => unwrap(await api.POST('/api/v1/tasks/{id}/report', { params: { path: { id } } })),
    // A signed, expiring link to the CSV: the browser downloads it without the session.
    onSuccess: (r) => window.location.assign(r.download_url),
    onError: (e) => void message.error(e.message),
  });

  const p = progress.data;
  const status = p?.status ?? task.data?.status ?? 'created';
  const failed = summary.data?.by_status.failed ?? 0;
  const finished = status === 'completed' || status === 'failed' || status === 'cancelled';
  return (
    <div data-testid="task-detail" data-task-id={task.data?.id} data-status={status} data-sent={p?.counts.sent ?? 0} data-failed={p?.counts.failed ?? 0} data-success={p?.counts.success ?? 0}>
      <PageToolbar
        title={
          <>
            {task.data?.name} <StatusTag status={status} testId="task-status" />
          </>
        }
      >
          {canControl && status === 'running' && (
            <Button onClick={() => act.mutate('pause')} data-testid="task-pause">
              {t('tasks.pause')}
            </Button>
          )}
          {canControl && status === 'paused' && (
            <Button onClick={() => act.mutate('resume')} data-testid="task-resume">
              {t('tasks.resume')}
            </Button>
          )}
          {canControl && (status === 'running' || status === 'paused' || status === 'created') && (
            <Button danger onClick={() => act.mutate('cancel')} data-testid="task-cancel">
              {t('tasks.cancel')}
            </Button>
          )}
          {canControl && status === 'created' && (
            <Button type="primary" onClick={() => act.mutate('start')} data-testid="task-start-draft">
              {t('tasks.start')}
            </Button>
          )}
          {status === 'created' && (
            <Button onClick={() => preview.mutate()} loading={preview.isPending} data-testid="task-preview">
              {t('tasks.preview')}
            </Button>
          )}
          {canWrite && task.data?.target_type !== 'retry' && (
            <Button onClick={() => clone.mutate()} loading={clone.isPending} data-testid="task-clone">
              {t('tasks.clone')}
            </Button>
          )}
          {canExport && (
            <Button onClick={() => exportReport.mutate()} loading={exportReport.isPending} data-testid="task-export">
              {t('tasks.export')}
            </Button>
          )}
          {canWrite && finished && failed > 0 && (
            <Button type="primary" onClick={() => retry.mutate(false)} loading={retry.isPending} data-testid="task-retry">
              {t('tasks.retryFailed', { count: failed })}
            </Button>
          )}
      </PageToolbar>
      {task.data?.error_message && <Alert type="warning" title={task.data.error_message} style={{ marginBottom: 12 }} />}
      <Card size="small">
        {p?.stage === 'waiting_for_staff_confirmation' && (
          <Alert type="info" showIcon title={t('tasks.waitingForStaff', { count: p.waiting_for_staff_confirmation })} data-testid="task-waiting-for-staff" style={{ marginBottom: 12 }} />
        )}
        <Progress percent={Math.floor(p?.percent ?? 0)} status={status === 'failed' ? 'exception' : status === 'completed' ? 'success' : 'active'} data-testid="task-progress" aria-label={t('tasks.progress')} />
        <Row gutter={[12, 12]}>
          {(['total', 'sent', 'success', 'failed', 'pending'] as const).map((k) => (
            <Col xs={8} md={4} key={k}>
              <Statistic title={t(`tasks.counts.${k}`)} value={p?.counts[k] ?? 0} data-testid={`count-${k}`} />
            </Col>
          ))}
          {(['capped', 'risk_paused', 'skipped'] as const).map((k) => (
            <Col xs={8} md={4} key={k}>
              <Statistic title={t(`tasks.counts.${k}`)} value={p?.counts[k] ?? 0} data-testid={`count-${k}`} />
            </Col>
          ))}
          <Col xs={8} md={2}>
            <Statistic title={t('tasks.rate')} value={p?.rate ?? 0} precision={0} />
          </Col>
          <Col xs={8} md={2}>
            <Statistic title={t('tasks.eta')} value={p?.eta_seconds ?? '—'} suffix={p?.eta_seconds != null ? 's' : ''} />
          </Col>
        </Row>
      </Card>
      {(summary.data?.reasons.length ?? 0) > 0 && (
        <Card size="small" title={t('tasks.reasons')} style={{ marginTop: 12 }}>
          <Descriptions column={1} size="small">
            {summary.data!.reasons.map((r) => (
              <Descriptions.Item key={`${r.status}-${r.error_code}`} label={<Tag color="#a8071a">{r.error_code ?? "—"}</Tag>}>
                {r.count} · {r.example_message ?? ''}
              </Descriptions.Item>
            ))}
          </Descriptions>
        </Card>
      )}
      <DryRunModal result={dryRun} onClose={() => setDryRun(null)} />
      <Card size="small" title={t('tasks.recipients')} style={{ marginTop: 12 }}>
        <Segmented
          options={FILTERS.map((f) => ({ value: f, label: f === 'all' ? t('tasks.all') : `${t(`status.${f}`)} ${summary.data?.by_status[f] ?? ''}` }))}
          value={filter}
          onChange={(v) => setFilter(v as (typeof FILTERS)[number])}
          data-testid="recipient-filter"
          style={{ marginBottom: 8, maxWidth: '100%', overflowX: 'auto' }}
        />
        <CursorTable<Recipient>
          pages={recipients}
          testId="recipients"
          pagerTestId="recipients"
          scrollX={600}
          columns={[
            { title: t('tasks.conversation'), dataIndex: 'conversation_id' },
            { title: t('tasks.status'), dataIndex: 'status', render: (s: string) => <StatusTag status={s} /> },
            { title: t('tasks.errorCode'), dataIndex: 'error_code', render: (v: string | null) => v ?? '' },
            { title: t('tasks.errorMessage'), dataIndex: 'error_message', render: (v: string | null) => v ?? '' },
            { title: t('tasks.attempts'), dataIndex: 'retry_count' },
          ]}
        />
      </Card>
    </div>
  );
}

