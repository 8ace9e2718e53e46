import { useQuery } from '@tanstack/react-query';
import { Card, Col, Row, Segmented, Statistic } from 'antd';
import { useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap } from '../api/client';
import type { components } from '../api/schema';
import { AccountSelect } from '../components/AccountSelect';
import { CursorTable, useCursorPages } from '../components/CursorPager';
import { PageToolbar } from '../components/PageToolbar';
import { SeriesChart } from '../components/SeriesChart';

type Granularity = 'hour' | 'day';
type AccountRow = components['schemas']['AccountReport']['data'][number];
const RANGES = { last24h: 24 * 3_600_000, last7d: 7 * 86_400_000, last30d: 30 * 86_400_000 } as const;
type Range = keyof typeof RANGES;

/** The report's period keys from `from` to `to`: UTC hours (`…T09:00:00Z`) or days in `timeZone` (`2026-11-30`). */
function periodsOf(from: string, to: string, granularity: Granularity, timeZone: string): string[] {
  const start = Date.parse(from);
  const end = Date.parse(to);
  const out: string[] = [];
  if (granularity === 'hour') {
    for (let h = Math.floor(start / 3_600_000) * 3_600_000; h < end; h += 3_600_000) out.push(`${new Date(h).toISOString().slice(0, 13)}:00:00Z`);
    return out;
  }
  const day = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
  for (let t = start; t < end + 3_600_000; t += 3_600_000) {
    const key = day.format(t);
    if (out[out.length - 1] !== key) out.push(key);
  }
  return out;
}

const percent = (r: number | null | undefined) => (r == null ? '—' : `${(r * 100).toFixed(1)}%`);

/**
 * Send reports from the hourly roll-up: a series chart (hourly in UTC hours, daily in the tenant's time
 * zone), the totals with the success rate, and the per-account table in server pages.
 */
export default function Reports() {
  const { t } = useTranslation();
  const [granularity, setGranularity] = useState<Granularity>('hour');
  const [range, setRange] = useState<Range>('last24h');
  const [accountId, setAccountId] = useState<string | undefined>();
  // The span is fixed when the range is picked, so the query key (and the server's answer) is stable.
  const span = useMemo(() => {
    const unit = granularity === 'hour' ? 3_600_000 : 86_400_000;
    const to = (Math.floor(Date.now() / 3_600_000) + 1) * 3_600_000;
    return { from: new Date(to - Math.max(RANGES[range], unit)).toISOString(), to: new Date(to).toISOString() };
  }, [granularity, range]);
  const report = useQuery({
    queryKey: ['report', granularity, span, accountId ?? null],
    queryFn: async () => unwrap(await api.GET('/api/v1/reports/messages', { params: { query: { granularity, ...span, ...(accountId ? { account_id: accountId } : {}) } } })),
  });
  const accounts = useCursorPages(['report-accounts', span], async (cursor) => unwrap(await api.GET('/api/v1/reports/accounts', { params: { query: { ...span, limit: 20, ...(cursor ? { cursor } : {}) } } })));

  // Every period of the range is on the axis, quiet ones as zero (the server returns only busy ones).
  const chart = useMemo(() => {
    const byPeriod = new Map((report.data?.series ?? []).map((p) => [p.period, p]));
    const keys = report.data ? periodsOf(report.data.from, report.data.to, granularity, report.data.timezone) : [];
    const points = keys.map((k) => byPeriod.get(k) ?? { period: k, total: 0, success: 0, failed: 0 });
    return {
      times: points.map((p) => Date.parse(p.period) / 1000),
      series: [
        { label: t('reports.success'), values: points.map((p) => p.success), color: '#237804' },
        { label: t('reports.failed'), values: points.map((p) => p.failed), color: '#a8071a' },
        { label: t('reports.total'), values: points.map((p) => p.total), color: '#0958d9' },
      ],
    };
  }, [report.data, granularity, t]);
  const totals = report.data?.totals;

  return (
    <div data-testid="reports">
      <PageToolbar title={t('nav.reports')}>
        <Segmented
          value={granularity}
          onChange={(v) => {
            setGranularity(v as Granularity);
            if (v === 'day' && range === 'last24h') setRange('last7d');
          }}
          options={[
            { value: 'hour', label: t('reports.hourly') },
            { value: 'day', label: t('reports.daily') },
          ]}
          data-testid="report-granularity"
        />
        <Segmented value={range} onChange={(v) => setRange(v as Range)} options={(Object.keys(RANGES) as Range[]).map((r) => ({ value: r, label: t(`reports.${r}`) }))} data-testid="report-range" />
        <AccountSelect value={accountId} onChange={setAccountId} allowClear label={t('reports.account')} />
      </PageToolbar>
      <Row gutter={[12, 12]}>
        {(['total', 'success', 'failed'] as const).map((k) => (
          <Col xs={12} md={5} key={k}>
            <Card size="small">
              <Statistic title={t(`reports.${k}`)} value={totals?.[k] ?? 0} data-testid={`report-${k}`} />
            </Card>
          </Col>
        ))}
        <Col xs={12} md={5}>
          <Card size="small">
            <Statistic title={t('reports.successRate')} value={percent(totals?.success_rate)} data-testid="report-success-rate" />
          </Card>
        </Col>
        <Col xs={24} md={4}>
          <Card size="small">
            <Statistic title={t('reports.avgResponse')} value={totals?.avg_response_time == null ? '—' : totals.avg_response_time.toFixed(2)} suffix={totals?.avg_response_time == null ? '' : 's'} />
          </Card>
        </Col>
      </Row>
      <Card size="small" title={`${t('reports.chart')} (${granularity === 'hour' ? 'UTC' : (report.data?.timezone ?? '')})`} style={{ marginTop: 12 }}>
        {report.data && <SeriesChart times={chart.times} series={chart.series} label={t('reports.chart')} />}
      </Card>
      <Card size="small" title={t('reports.perAccount')} style={{ marginTop: 12 }}>
        <CursorTable<AccountRow>
          pages={accounts}
          rowKey="account_id"
          testId="report-accounts"
          pagerTestId="report-accounts"
          scrollX={500}
          columns={[
            { title: t('reports.account'), dataIndex: 'account_name', render: (v: string | null, r) => v ?? r.account_id },
            { title: t('reports.total'), dataIndex: 'total' },
            { title: t('reports.success'), dataIndex: 'success' },
            { title: t('reports.failed'), dataIndex: 'failed' },
            { title: t('reports.successRate'), dataIndex: 'success_rate', render: (v: number | null) => percent(v) },
          ]}
        />
      </Card>
    </div>
  );
}
