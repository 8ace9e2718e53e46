import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Card, Col, Empty, List, Progress, Row, Statistic, Typography } from 'antd';
import { useCallback, useMemo } from 'react';
import { useTranslation } from 'react-i18next';
import { PageToolbar } from '../components/PageToolbar';
import { Link } from 'react-router';
import { api, unwrap } from '../api/client';
import { SeriesChart } from '../components/SeriesChart';
import { StatusTag } from '../components/StatusTag';
import { useLiveEvent } from '../realtime';

export default function Dashboard() {
  const { t } = useTranslation();
  const qc = useQueryClient();
  const dash = useQuery({ queryKey: ['dashboard'], queryFn: async () => unwrap(await api.GET('/api/v1/dashboard')) });
  const report = useQuery({ queryKey: ['report', 'hour'], queryFn: async () => unwrap(await api.GET('/api/v1/reports/messages', { params: { query: { granularity: 'hour' } } })) });
  // Live: any account or task change refreshes the figures (coalesced by react-query).
  const refresh = useCallback(() => void qc.invalidateQueries({ queryKey: ['dashboard'] }), [qc]);
  useLiveEvent('account.status', refresh);
  useLiveEvent('task.status', refresh);
  useLiveEvent('task.progress', refresh);

  // Every hour of the report's range, quiet hours as zero, so the axis is a steady 24 h.
  const chart = useMemo(() => {
    const byHour = new Map((report.data?.series ?? []).map((p) => [Date.parse(p.period), p]));
    const to = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    const hours = Array.from({ length: 24 }, (_, i) => to - (23 - i) * 3_600_000);
    return {
      times: hours.map((h) => h / 1000),
      series: [
        { label: t('dashboard.sent'), values: hours.map((h) => byHour.get(h)?.success ?? 0), color: '#237804' },
        { label: t('dashboard.failed'), values: hours.map((h) => byHour.get(h)?.failed ?? 0), color: '#a8071a' },
      ],
    };
  }, [report.data, t]);

  const d = dash.data;
  return (
    <div data-testid="dashboard">
      <PageToolbar title={t('nav.dashboard')} />
      <Row gutter={[12, 12]}>
        {(['online', 'offline', 'error', 'waiting_scan'] as const).map((s) => (
          <Col xs={12} md={6} key={s}>
            <Card size="small">
              <Statistic title={t(`status.${s}`)} value={d?.accounts[s] ?? 0} data-testid={`accounts-${s}`} />
            </Card>
          </Col>
        ))}
        {(['sent', 'delivered', 'failed', 'pending'] as const).map((k) => (
          <Col xs={12} md={6} key={k}>
            <Card size="small">
              <Statistic title={t(`dashboard.${k}`)} value={d?.today[k] ?? 0} data-testid={`today-${k}`} />
            </Card>
          </Col>
        ))}
        <Col xs={24} lg={12}>
          <Card size="small" title={t('dashboard.activeTasks')}>
            {d?.active_tasks.length ? (
              <List
                dataSource={d.active_tasks}
                renderItem={(task) => (
                  <List.Item>
                    <Link to={`/tasks/${task.id}`}>{task.name}</Link> <StatusTag status={task.status} />
                    <Progress percent={Math.round(task.progress_percent)} size="small" style={{ maxWidth: 200 }} aria-label={`${t('tasks.progress')} ${task.name}`} />
                  </List.Item>
                )}
              />
            ) : (
              <Empty description={t('dashboard.noActive')} />
            )}
          </Card>
        </Col>
        <Col xs={24} lg={12}>
          <Card size="small" title={t('dashboard.alerts')}>
            {d?.alerts.length ? (
              <List
                dataSource={d.alerts}
                renderItem={(a) => (
                  <List.Item>
                    <Typography.Text>
                      {t(`dashboard.alert.${a.kind}`)} <StatusTag status={a.status} /> {a.message ?? ''}
                    </Typography.Text>
                    <Typography.Text type="secondary">{new Date(a.at).toLocaleTimeString()}</Typography.Text>
                  </List.Item>
                )}
              />
            ) : (
              <Empty description={t('dashboard.noAlerts')} />
            )}
          </Card>
        </Col>
        <Col span={24}>
          <Card size="small" title={t('dashboard.chart')}>
            {report.data && <SeriesChart label={t('dashboard.chart')} times={chart.times} series={chart.series} />}
          </Card>
        </Col>
      </Row>
    </div>
  );
}
