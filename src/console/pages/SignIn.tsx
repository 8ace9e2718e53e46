import { Alert, Button, Card, Form, Input, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useLocation, useNavigate } from 'react-router';
import { LanguageSwitch } from '../components/LanguageSwitch';
import { AuthError, signIn } from '../session';

interface Values {
  tenant_code: string;
  username: string;
  password: string;
}

/** Lockout (423) and rate limiting (429) are told apart from a wrong password: each says when to retry. */
function describe(err: unknown, t: (k: string, o?: Record<string, unknown>) => string): string {
  if (!(err instanceof AuthError)) return t('signIn.unreachable');
  if (err.status === 423) {
    const until = err.details?.locked_until ? new Date(String(err.details.locked_until)).toLocaleString() : '';
    return t('signIn.locked', { until });
  }
  if (err.status === 429) return t('signIn.rateLimited', { seconds: err.retryAfter ?? 60 });
  if (err.code === 'tenant_suspended') return t('signIn.suspended');
  if (err.code === 'account_inactive') return t('signIn.inactive');
  if (err.status === 401) return t('signIn.invalid');
  return err.message;
}

export default function SignIn() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const from = (useLocation().state as { from?: string } | null)?.from ?? '/dashboard';
  const [error, setError] = useState<{ text: string; kind: string } | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (v: Values) => {
    setBusy(true);
    setError(null);
    try {
      await signIn(v.tenant_code.trim(), v.username.trim(), v.password);
      navigate(from, { replace: true });
    } catch (err) {
      const kind = err instanceof AuthError ? (err.status === 423 ? 'locked' : err.status === 429 ? 'rate_limited' : err.code) : 'network';
      setError({ text: describe(err, t), kind });
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="sign-in">
      <Card className="sign-in-card">
        <div className="sign-in-head">
          <Typography.Title level={1}>{t('app.name')}</Typography.Title>
          <LanguageSwitch />
        </div>
        {error && <Alert type="error" showIcon title={error.text} data-testid="sign-in-error" data-kind={error.kind} role="alert" />}
        <Form<Values> layout="vertical" onFinish={submit} requiredMark={false} aria-label={t('signIn.title')}>
          <Form.Item label={t('signIn.tenant')} name="tenant_code" rules={[{ required: true, message: t('form.required') }]}>
            <Input autoComplete="organization" data-testid="tenant" />
          </Form.Item>
          <Form.Item label={t('signIn.username')} name="username" rules={[{ required: true, message: t('form.required') }]}>
            <Input autoComplete="username" data-testid="username" />
          </Form.Item>
          <Form.Item label={t('signIn.password')} name="password" rules={[{ required: true, message: t('form.required') }]}>
            <Input.Password autoComplete="current-password" data-testid="password" />
          </Form.Item>
          <Button type="primary" htmlType="submit" block loading={busy} data-testid="sign-in-submit">
            {t('signIn.submit')}
          </Button>
        </Form>
        <p style={{ marginTop: 12 }}>
          <Link to="/platform/sign-in" data-testid="platform-link">
            {t('platform.signIn')}
          </Link>
        </p>
      </Card>
    </main>
  );
}
