import { useQueryClient } from '@tanstack/react-query';
import { Button, Input, Progress, Segmented, Space } from 'antd';
import { useCallback, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate } from 'react-router';
import { api, unwrap } from '../api/client';
import type { components } from '../api/schema';
import { CursorTable, useCursorPages } from '../components/CursorPager';
import { PageToolbar } from '../components/PageToolbar';
import { StatusTag } from '../components/StatusTag';
import { useCan } from '../me';
import { useLiveEvent } from '../realtime';

type Task = components['schemas']['Task'];
const STATUS_FILTERS = ['all', 'running', 'paused', 'created', 'completed', 'failed', 'cancelled'] as const;
type StatusFilter = (typeof STATUS_FILTERS)[number];

export default function Tasks() {
  const { t } = useTranslation();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const canWrite = useCan('tasks:write');
  const [status, setStatus] = useState<StatusFilter>('all');
  const [search, setSearch] = useState('');
  const filters = { ...(status !== 'all' ? { status } : {}), ...(search ? { q: search } : {}) };
  const list = useCursorPages(['tasks', 'page', filters], async (cursor) => unwrap(await api.GET('/api/v1/tasks', { params: { query: { limit: 50, ...filters, ...(cursor ? { cursor } : {}) } } })));
  const onProgress = useCallback(
    (e: { task_id: string; status: Task['status']; percent: number }) =>
      qc.setQueriesData({ queryKey: ['tasks'] }, (old: { data: Task[]; next_cursor: string | null } | undefined) =>
        old ? { ...old, data: old.data.map((x) => (x.id === e.task_id ? { ...x, status: e.status, progress_percent: e.percent } : x)) } : old,
      ),
    [qc],
  );
  useLiveEvent('task.progress', onProgress);
  useLiveEvent('task.status', useCallback(() => void qc.invalidateQueries({ queryKey: ['tasks'] }), [qc]));
  return (
    <div data-testid="tasks">
      <PageToolbar title={t('nav.tasks')}>
        {canWrite && (
          <Button type="primary" onClick={() => navigate('/tasks/new')} data-testid="task-create">
            {t('tasks.create')}
          </Button>
        )}
      </PageToolbar>
      <Space wrap style={{ marginBottom: 12 }}>
        <Segmented
          value={status}
          onChange={(v) => setStatus(v as StatusFilter)}
          options={STATUS_FILTERS.map((f) => ({ value: f, label: f === 'all' ? t('tasks.all') : t(`status.${f}`) }))}
          data-testid="tasks-status"
          style={{ maxWidth: '100%', overflowX: 'auto' }}
        />
        <Input.Search allowClear placeholder={t('tasks.name')} aria-label={t('tasks.name')} onSearch={(v) => setSearch(v.trim())} style={{ width: 220 }} data-testid="tasks-search" />
      </Space>
      <CursorTable<Task>
        pages={list}
        pagerTestId="tasks"
        scrollX={600}
        columns={[
          { title: t('tasks.name'), dataIndex: 'name', render: (v: string, r) => <Link to={`/tasks/${r.id}`}>{v}</Link> },
          { title: t('tasks.status'), dataIndex: 'status', render: (s: string) => <StatusTag status={s} /> },
          { title: t('tasks.progress'), dataIndex: 'progress_percent', render: (p: number, r) => <Progress percent={Math.round(p)} size="small" aria-label={`${t('tasks.progress')} ${r.name}`} /> },
          { title: t('tasks.created'), dataIndex: 'created_at', render: (v: string) => new Date(v).toLocaleString() },
        ]}
      />
    </div>
  );
}
