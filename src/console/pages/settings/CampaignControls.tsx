import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { App, Button, Divider, Form, Input, InputNumber, Switch, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, unwrap } from '../../api/client';
import type { components } from '../../api/schema';
import { useCan } from '../../me';

type Controls = components['schemas']['Tenant']['campaign_controls'];

/** Form values: an empty number is "off"; each group has its own switch. */
interface Values {
  per_day?: number | null;
  per_week?: number | null;
  per_month?: number | null;
  account_hourly_cap?: number | null;
  account_daily_cap?: number | null;
  warmup_on: boolean;
  first_day?: number;
  daily_increase_pct?: number;
  new_accounts: boolean;
  risk_on: boolean;
  threshold?: number;
  cooldown_seconds?: number;
  codes?: string;
}

function toValues(c: Controls | undefined): Values {
  return {
    per_day: c?.frequency_cap?.per_day ?? null,
    per_week: c?.frequency_cap?.per_week ?? null,
    per_month: c?.frequency_cap?.per_month ?? null,
    account_hourly_cap: c?.account_hourly_cap ?? null,
    account_daily_cap: c?.account_daily_cap ?? null,
    warmup_on: Boolean(c?.warmup),
    first_day: c?.warmup?.first_day ?? 20,
    daily_increase_pct: c?.warmup?.daily_increase_pct ?? 50,
    new_accounts: c?.warmup?.new_accounts ?? true,
    risk_on: Boolean(c?.risk_pause),
    threshold: c?.risk_pause?.threshold ?? 5,
    cooldown_seconds: c?.risk_pause?.cooldown_seconds ?? 1800,
    codes: (c?.risk_pause?.codes ?? []).join(', '),
  };
}

/** The whole controls object (null turns a control off), as PATCH /tenant takes it. */
function toPatch(v: Values) {
  const n = (x: number | null | undefined) => (typeof x === 'number' ? x : null);
  const anyCap = v.per_day || v.per_week || v.per_month;
  return {
    frequency_cap: anyCap ? { per_day: n(v.per_day), per_week: n(v.per_week), per_month: n(v.per_month) } : null,
    account_hourly_cap: n(v.account_hourly_cap),
    account_daily_cap: n(v.account_daily_cap),
    warmup: v.warmup_on ? { first_day: v.first_day ?? 20, daily_increase_pct: v.daily_increase_pct ?? 50, new_accounts: v.new_accounts } : null,
    risk_pause: v.risk_on
      ? {
          threshold: v.threshold ?? 5,
          cooldown_seconds: v.cooldown_seconds ?? 1800,
          codes: (v.codes ?? '')
            .split(',')
            .map((c) => c.trim())
            .filter(Boolean),
        }
      : null,
  };
}

/**
 * The tenant's campaign controls: recipient frequency cap, account hourly and daily caps, warm-up ramp
 * and risk pause. Configuration, applied by the pacer to every campaign; empty = off.
 */
export function CampaignControlsTab() {
  const { t } = useTranslation();
  const qc = useQueryClient();
  const { message } = App.useApp();
  const canWrite = useCan('tenant:write');
  const tenant = useQuery({ queryKey: ['tenant'], queryFn: async () => unwrap(await api.GET('/api/v1/tenant')) });
  const save = useMutation({
    mutationFn: async (v: Values) => unwrap(await api.PATCH('/api/v1/tenant', { body: { campaign_controls: toPatch(v) } })),
    onSuccess: (row) => {
      qc.setQueryData(['tenant'], row);
      void message.success(t('common.saved'));
    },
    onError: (e) => void message.error(e.message),
  });
  const [form] = Form.useForm<Values>();
  const warmupOn = Form.useWatch('warmup_on', form);
  const riskOn = Form.useWatch('risk_on', form);
  if (!tenant.data) return null;
  const num = (name: keyof Values, label: string, testId: string, max = 1_000_000) => (
    <Form.Item label={label} name={name}>
      <InputNumber min={1} max={max} style={{ width: 200 }} placeholder={t('controls.off')} data-testid={testId} disabled={!canWrite} />
    </Form.Item>
  );
  return (
    <div data-testid="campaign-controls">
      <Typography.Paragraph type="secondary">{t('controls.intro')}</Typography.Paragraph>
      <Form<Values> form={form} layout="vertical" initialValues={toValues(tenant.data.campaign_controls)} key={tenant.data.updated_at} onFinish={(v) => save.mutate(v)} style={{ maxWidth: 560 }}>
        <Divider titlePlacement="start">{t('controls.frequency')}</Divider>
        {num('per_day', t('controls.perDay'), 'cap-per-day', 10_000)}
        {num('per_week', t('controls.perWeek'), 'cap-per-week', 70_000)}
        {num('per_month', t('controls.perMonth'), 'cap-per-month', 300_000)}
        <Divider titlePlacement="start">{t('controls.account')}</Divider>
        {num('account_hourly_cap', t('controls.hourly'), 'cap-hourly')}
        {num('account_daily_cap', t('controls.daily'), 'cap-daily', 1_000_000_000)}
        <Divider titlePlacement="start">{t('controls.warmup')}</Divider>
        <Form.Item name="warmup_on" valuePropName="checked">
          <Switch disabled={!canWrite} data-testid="warmup-on" aria-label={t('controls.warmup')} />
        </Form.Item>
        {warmupOn && (
          <>
            <Form.Item label={t('controls.firstDay')} name="first_day" rules={[{ required: true, message: t('form.required') }]}>
              <InputNumber min={1} style={{ width: 200 }} disabled={!canWrite} />
            </Form.Item>
            <Form.Item label={t('controls.increase')} name="daily_increase_pct" rules={[{ required: true, message: t('form.required') }]}>
              <InputNumber min={1} max={1000} suffix="%" style={{ width: 200 }} disabled={!canWrite} />
            </Form.Item>
            <Form.Item label={t('controls.newAccounts')} name="new_accounts" valuePropName="checked">
              <Switch disabled={!canWrite} aria-label={t('controls.newAccounts')} />
            </Form.Item>
          </>
        )}
        <Divider titlePlacement="start">{t('controls.risk')}</Divider>
        <Form.Item name="risk_on" valuePropName="checked">
          <Switch disabled={!canWrite} data-testid="risk-on" aria-label={t('controls.risk')} />
        </Form.Item>
        {riskOn && (
          <>
            <Form.Item label={t('controls.threshold')} name="threshold" rules={[{ required: true, message: t('form.required') }]}>
              <InputNumber min={1} max={1000} style={{ width: 200 }} disabled={!canWrite} />
            </Form.Item>
            <Form.Item label={t('controls.cooldown')} name="cooldown_seconds" rules={[{ required: true, message: t('form.required') }]}>
              <InputNumber min={10} max={604800} suffix="s" style={{ width: 200 }} disabled={!canWrite} />
            </Form.Item>
            <Form.Item label={t('controls.codes')} name="codes">
              <Input placeholder="rate_limited, risk_control" disabled={!canWrite} />
            </Form.Item>
          </>
        )}
        {canWrite && (
          <Button type="primary" htmlType="submit" loading={save.isPending} data-testid="controls-save">
            {t('common.save')}
          </Button>
        )}
      </Form>
    </div>
  );
}
