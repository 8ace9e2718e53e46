import { useQuery } from '@tanstack/react-query';
import { Alert, Button, Card, Checkbox, Descriptions, Form, Input, InputNumber, Radio, Select, Space, Steps, Switch, Table } from 'antd';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useNavigate } from 'react-router';
import { api, unwrap, uploadFile } from '../api/client';
import type { components } from '../api/schema';
import { AccountSelect } from '../components/AccountSelect';
import { TemplateSelect } from '../components/TemplateSelect';
import { DryRunModal } from '../components/DryRunModal';

type Preview = components['schemas']['AudiencePreview'];
type Audience = 'manual' | 'import' | 'group' | 'filter';
type Backoff = 'fixed' | 'exponential';

/** A datetime-local value (the browser's local time) as ISO 8601 UTC; empty stays undefined. */
const localToIso = (v: string) => (v ? new Date(v).toISOString() : undefined);

/**
 * The campaign wizard: sending accounts → audience (with the recipient count and the CSV's bad rows
 * before anything is created) → content → strategy → review, create and start.
 */
export default function NewTask() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [step, setStep] = useState(0);
  const [name, setName] = useState('');
  const [accountIds, setAccountIds] = useState<string[]>([]);
  const [audience, setAudience] = useState<Audience>('manual');
  const [manual, setManual] = useState('');
  const [fileId, setFileId] = useState<string | null>(null);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [source, setSource] = useState<'template' | 'inline'>('template');
  const [templateId, setTemplateId] = useState<string | undefined>();
  const [text, setText] = useState('');
  const [variables, setVariables] = useState('');
  const [rate, setRate] = useState(60);
  const [attempts, setAttempts] = useState(3);
  const [threshold, setThreshold] = useState(20);
  const [jitter, setJitter] = useState(20);
  const [backoff, setBackoff] = useState<Backoff>('exponential');
  const [backoffMs, setBackoffMs] = useState(5_000);
  const [windowOn, setWindowOn] = useState(false);
  const [windowStart, setWindowStart] = useState('09:00');
  const [windowEnd, setWindowEnd] = useState('21:00');
  const [windowDays, setWindowDays] = useState<number[]>([1, 2, 3, 4, 5, 6, 7]);
  const [priority, setPriority] = useState(5);
  const [scheduleAt, setScheduleAt] = useState('');
  const [filterType, setFilterType] = useState<'private' | 'group' | undefined>();
  const [filterTags, setFilterTags] = useState<string[]>([]);
  const [lastAfter, setLastAfter] = useState('');
  const [lastBefore, setLastBefore] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  // The sending window is in the tenant's time zone and the daily cap is the tenant's: both shown as such.
  const tenant = useQuery({ queryKey: ['tenant'], queryFn: async () => unwrap(await api.GET('/api/v1/tenant')) });
  const timezone = tenant.data?.timezone ?? 'Asia/Shanghai';
  const weekdays = t('wizard.weekdays').split(',');

  const targets = () =>
    manual
      .split(/[\n,]/)
      .map((s) => s.trim())
      .filter(Boolean)
      .map((conversation_id) => ({ conversation_id }));
  const audienceBody = () => ({
    target_type: audience,
    account_ids: accountIds,
    ...(audience === 'manual' ? { targets: targets() } : {}),
    ...(audience === 'import' && fileId ? { file_id: fileId } : {}),
    ...(audience === 'filter'
      ? {
          filter: {
            ...(filterType ? { conversation_type: filterType } : {}),
            ...(filterTags.length ? { tags: filterTags } : {}),
            ...(lastAfter ? { last_message_after: localToIso(lastAfter) } : {}),
            ...(lastBefore ? { last_message_before: localToIso(lastBefore) } : {}),
          },
        }
      : {}),
  });
  const strategy = () => ({
    rate_per_minute: rate,
    jitter: jitter / 100,
    window: windowOn ? { start: windowStart, end: windowEnd, days: windowDays } : null,
    retry: { max_attempts: attempts, backoff, backoff_ms: backoffMs },
    error_threshold: threshold,
  });
  const scheduled = localToIso(scheduleAt);
  const shared = () => Object.fromEntries(variables.split('\n').map((l) => l.split('=')).filter((p) => p.length === 2 && p[0].trim()).map(([k, v]) => [k.trim(), v.trim()]));

  const countAudience = async () => {
    setError(null);
    try {
      setPreview(unwrap(await api.POST('/api/v1/tasks/audience', { body: audienceBody() as never })));
    } catch (e) {
      setPreview(null);
      setError((e as Error).message);
    }
  };

  const taskBody = () => ({
    name,
    ...audienceBody(),
    ...(source === 'template' ? { template_id: templateId } : { content: { type: 'text', text } }),
    variables: shared(),
    send_strategy: strategy(),
    priority,
    ...(scheduled ? { scheduled_time: scheduled } : {}),
  });

  // The same body as create, answered with the audience count and rendered samples; nothing is written.
  const [dryRun, setDryRun] = useState<components['schemas']['TaskDryRun'] | null>(null);
  const runDry = async () => {
    setError(null);
    try {
      setDryRun(unwrap(await api.POST('/api/v1/tasks/dry-run', { body: taskBody() as never })));
    } catch (e) {
      setError((e as Error).message);
    }
  };

  const createAndStart = async () => {
    setBusy(true);
    setError(null);
    try {
      const task = unwrap(await api.POST('/api/v1/tasks', { body: taskBody() as never }));
      // A scheduled campaign starts by itself at its time.
      if (!scheduled) unwrap(await api.POST('/api/v1/tasks/{id}/start', { params: { path: { id: task.id } } }));
      navigate(`/tasks/${task.id}`);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  // A changed filter makes the last count stale.
  useEffect(() => setPreview(null), [filterType, filterTags, lastAfter, lastBefore]);
  const windowValid = !windowOn || (/^\d\d:\d\d$/.test(windowStart) && /^\d\d:\d\d$/.test(windowEnd) && windowStart !== windowEnd && windowDays.length > 0);
  const canNext = [name.trim() !== '' && accountIds.length > 0, Boolean(preview && preview.count > 0), source === 'template' ? Boolean(templateId) : text.trim() !== '', windowValid, true][step];
  const steps = [t('wizard.accounts'), t('wizard.audience'), t('wizard.content'), t('wizard.strategy'), t('wizard.review')];

  return (
    <Card title={t('tasks.create')} data-testid="new-task">
      <Steps current={step} size="small" items={steps.map((title) => ({ title }))} responsive />
      <div style={{ marginTop: 16 }}>
        {step === 0 && (
          <Form layout="vertical">
            <Form.Item label={t('tasks.name')} required>
              <Input value={name} onChange={(e) => setName(e.target.value)} aria-label={t('tasks.name')} data-testid="task-name" autoFocus />
            </Form.Item>
            <Form.Item label={t('wizard.accounts')} required>
              <AccountSelect mode="multiple" value={accountIds} onChange={setAccountIds} testId="task-accounts" label={t('wizard.accounts')} style={{ width: '100%' }} />
            </Form.Item>
          </Form>
        )}
        {step === 1 && (
          <Space direction="vertical" style={{ width: '100%' }}>
            <Radio.Group
              value={audience}
              onChange={(e) => {
                setAudience(e.target.value as Audience);
                setPreview(null);
              }}
              options={[
                { value: 'manual', label: t('wizard.manual') },
                { value: 'import', label: t('wizard.csv') },
                { value: 'group', label: t('wizard.groups') },
                { value: 'filter', label: t('wizard.filter') },
              ]}
            />
            {audience === 'filter' && (
              <Form layout="vertical" data-testid="audience-filter">
                <Form.Item label={t('wizard.conversationType')}>
                  <Radio.Group
                    value={filterType ?? ''}
                    onChange={(e) => {
                      setFilterType((e.target.value || undefined) as typeof filterType);
                      setPreview(null);
                    }}
                    options={[
                      { value: '', label: t('common.any') },
                      { value: 'private', label: t('wizard.private') },
                      { value: 'group', label: t('wizard.group') },
                    ]}
                  />
                </Form.Item>
                <Form.Item label={t('wizard.tags')}>
                  <Select mode="tags" value={filterTags} onChange={setFilterTags} aria-label={t('wizard.tags')} data-testid="filter-tags" open={false} />
                </Form.Item>
                <Space wrap>
                  <Form.Item label={t('wizard.lastMessageAfter')}>
                    <Input type="datetime-local" value={lastAfter} onChange={(e) => setLastAfter(e.target.value)} aria-label={t('wizard.lastMessageAfter')} />
                  </Form.Item>
                  <Form.Item label={t('wizard.lastMessageBefore')}>
                    <Input type="datetime-local" value={lastBefore} onChange={(e) => setLastBefore(e.target.value)} aria-label={t('wizard.lastMessageBefore')} />
                  </Form.Item>
                </Space>
              </Form>
            )}
            {audience === 'manual' && (
              <Input.TextArea rows={6} value={manual} onChange={(e) => setManual(e.target.value)} placeholder={t('wizard.manualHint')} data-testid="task-targets" aria-label={t('wizard.manual')} />
            )}
            {audience === 'import' && (
              <input
                type="file"
                accept=".csv,text/csv"
                aria-label={t('wizard.csv')}
                data-testid="task-csv"
                onChange={async (e) => {
                  const f = e.target.files?.[0];
                  if (!f) return;
                  try {
                    setFileId((await uploadFile(f, 'import')).id);
                  } catch (err) {
                    setError((err as Error).message);
                  }
                }}
              />
            )}
            <Button onClick={countAudience} data-testid="audience-count" disabled={audience === 'import' && !fileId}>
              {t('wizard.count')}
            </Button>
            {preview && (
              <Alert
                type={preview.problem_count ? 'warning' : 'success'}
                data-testid="audience-result"
                title={t('wizard.recipients', { count: preview.count, duplicates: preview.duplicates, problems: preview.problem_count })}
              />
            )}
            {preview && preview.problems.length > 0 && (
              <Table
                size="small"
                rowKey={(p) => `${p.line ?? ''}-${p.index ?? ''}-${p.error}`}
                dataSource={preview.problems}
                pagination={false}
                data-testid="audience-problems"
                columns={[
                  { title: t('wizard.line'), render: (_: unknown, p) => p.line ?? (p.index !== undefined ? `#${p.index + 1}` : '') },
                  { title: t('wizard.problem'), dataIndex: 'error' },
                ]}
              />
            )}
          </Space>
        )}
        {step === 2 && (
          <Space direction="vertical" style={{ width: '100%' }}>
            <Radio.Group
              value={source}
              onChange={(e) => setSource(e.target.value as 'template' | 'inline')}
              data-testid="content-source"
              options={[
                { value: 'template', label: t('wizard.fromTemplate') },
                { value: 'inline', label: t('wizard.inline') },
              ]}
            />
            {source === 'template' ? (
              <TemplateSelect value={templateId} onChange={setTemplateId} label={t('wizard.pickTemplate')} testId="task-template" style={{ width: '100%' }} />
            ) : (
              <Input.TextArea rows={4} value={text} onChange={(e) => setText(e.target.value)} data-testid="task-text" aria-label={t('wizard.inline')} />
            )}
            <Input.TextArea rows={3} value={variables} onChange={(e) => setVariables(e.target.value)} placeholder={t('wizard.variablesHint')} aria-label={t('wizard.variables')} data-testid="task-variables" />
          </Space>
        )}
        {step === 3 && (
          <Form layout="vertical" data-testid="task-strategy">
            <Space wrap size="large" align="start">
              <Form.Item label={t('wizard.rate')}>
                <InputNumber min={0} max={6000} value={rate} onChange={(v) => setRate(Number(v ?? 0))} aria-label={t('wizard.rate')} data-testid="task-rate" />
              </Form.Item>
              <Form.Item label={t('wizard.jitter')}>
                <InputNumber min={0} max={100} value={jitter} onChange={(v) => setJitter(Number(v ?? 0))} aria-label={t('wizard.jitter')} data-testid="task-jitter" />
              </Form.Item>
              <Form.Item label={t('wizard.priority')}>
                <InputNumber min={1} max={10} value={priority} onChange={(v) => setPriority(Number(v ?? 5))} aria-label={t('wizard.priority')} data-testid="task-priority" />
              </Form.Item>
            </Space>
            <Form.Item label={t('wizard.window')} extra={t('wizard.windowHint', { tz: timezone })}>
              <Space wrap>
                <Switch checked={windowOn} onChange={setWindowOn} aria-label={t('wizard.window')} data-testid="task-window" />
                {windowOn && (
                  <>
                    <Input type="time" value={windowStart} onChange={(e) => setWindowStart(e.target.value)} aria-label={t('common.from')} data-testid="task-window-start" style={{ width: 130 }} />
                    <Input type="time" value={windowEnd} onChange={(e) => setWindowEnd(e.target.value)} aria-label={t('common.to')} data-testid="task-window-end" style={{ width: 130 }} />
                    <Checkbox.Group value={windowDays} onChange={(v) => setWindowDays(v as number[])} options={weekdays.map((label, i) => ({ value: i + 1, label }))} aria-label={t('wizard.days')} />
                  </>
                )}
              </Space>
            </Form.Item>
            <Space wrap size="large" align="start">
              <Form.Item label={t('wizard.attempts')}>
                <InputNumber min={1} max={10} value={attempts} onChange={(v) => setAttempts(Number(v ?? 1))} aria-label={t('wizard.attempts')} data-testid="task-attempts" />
              </Form.Item>
              <Form.Item label={t('wizard.backoff')}>
                <Radio.Group
                  value={backoff}
                  onChange={(e) => setBackoff(e.target.value as Backoff)}
                  options={[
                    { value: 'exponential', label: t('wizard.exponential') },
                    { value: 'fixed', label: t('wizard.fixed') },
                  ]}
                />
              </Form.Item>
              <Form.Item label={t('wizard.backoffMs')}>
                <InputNumber min={100} max={3_600_000} step={1000} value={backoffMs} onChange={(v) => setBackoffMs(Number(v ?? 5000))} aria-label={t('wizard.backoffMs')} />
              </Form.Item>
            </Space>
            <Form.Item label={t('wizard.threshold')}>
              <InputNumber min={0} max={100000} value={threshold} onChange={(v) => setThreshold(Number(v ?? 0))} aria-label={t('wizard.threshold')} data-testid="task-threshold" />
            </Form.Item>
            <Form.Item label={t('wizard.schedule')} extra={t('wizard.scheduleHint')}>
              <Input type="datetime-local" value={scheduleAt} onChange={(e) => setScheduleAt(e.target.value)} aria-label={t('wizard.schedule')} data-testid="task-schedule" style={{ width: 240 }} />
            </Form.Item>
            {tenant.data && <Alert type="info" title={t('wizard.dailyCap', { cap: tenant.data.max_daily_messages })} data-testid="task-daily-cap" />}
          </Form>
        )}
        {step === 4 && (
          <Descriptions column={1} size="small" bordered>
            <Descriptions.Item label={t('tasks.name')}>{name}</Descriptions.Item>
            <Descriptions.Item label={t('wizard.accounts')}>{accountIds.length}</Descriptions.Item>
            <Descriptions.Item label={t('wizard.audience')}>{preview?.count ?? 0}</Descriptions.Item>
            <Descriptions.Item label={t('wizard.rate')}>{rate}</Descriptions.Item>
            <Descriptions.Item label={t('wizard.jitter')}>{jitter}</Descriptions.Item>
            <Descriptions.Item label={t('wizard.window')}>
              {windowOn ? `${windowStart}–${windowEnd} (${timezone}) ${windowDays.map((d) => weekdays[d - 1]).join(' ')}` : '—'}
            </Descriptions.Item>
            <Descriptions.Item label={t('wizard.attempts')}>{`${attempts} · ${t(`wizard.${backoff}`)} ${backoffMs} ms`}</Descriptions.Item>
            <Descriptions.Item label={t('wizard.threshold')}>{threshold}</Descriptions.Item>
            <Descriptions.Item label={t('wizard.priority')}>{priority}</Descriptions.Item>
            <Descriptions.Item label={t('wizard.schedule')}>{scheduled ? new Date(scheduled).toLocaleString() : '—'}</Descriptions.Item>
          </Descriptions>
        )}
        {error && <Alert type="error" title={error} role="alert" style={{ marginTop: 12 }} />}
        <Space style={{ marginTop: 16 }}>
          {step > 0 && <Button onClick={() => setStep(step - 1)}>{t('wizard.back')}</Button>}
          {step < 4 && (
            <Button type="primary" disabled={!canNext} onClick={() => setStep(step + 1)} data-testid="wizard-next">
              {t('wizard.next')}
            </Button>
          )}
          {step === 4 && (
            <Button onClick={runDry} data-testid="task-dry-run">
              {t('tasks.dryRun')}
            </Button>
          )}
          {step === 4 && (
            <Button type="primary" loading={busy} onClick={createAndStart} data-testid="task-start">
              {scheduled ? t('wizard.scheduled') : t('wizard.start')}
            </Button>
          )}
        </Space>
      </div>
      <DryRunModal result={dryRun} onClose={() => setDryRun(null)} />
    </Card>
  );
}
