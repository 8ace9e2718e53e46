import { Alert, Button, Card, Form, Input, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate } from 'react-router';
import { LanguageSwitch } from '../components/LanguageSwitch';
import { AuthError, platformSignIn } from '../session';

/** The platform admin's sign-in: no tenant code; wrong credentials and rate limiting told apart. */
export default function PlatformSignIn() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (v: { username: string; password: string }) => {
    setBusy(true);
    setError(null);
    try {
      await platformSignIn(v.username.trim(), v.password);
      navigate('/platform/tenants', { replace: true });
    } catch (err) {
      setError(!(err instanceof AuthError) ? t('signIn.unreachable') : err.status === 429 ? t('signIn.rateLimited', { seconds: err.retryAfter ?? 60 }) : err.status === 401 ? t('signIn.invalid') : err.message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="sign-in">
      <Card className="sign-in-card">
        <div className="sign-in-head">
          <Typography.Title level={1}>{t('platform.signIn')}</Typography.Title>
          <LanguageSwitch />
        </div>
        {error && <Alert type="error" showIcon title={error} role="alert" data-testid="platform-sign-in-error" />}
        <Form layout="vertical" onFinish={submit} requiredMark={false} aria-label={t('platform.signIn')}>
          <Form.Item label={t('signIn.username')} name="username" rules={[{ required: true, message: t('form.required') }]}>
            <Input autoComplete="username" data-testid="platform-username" />
          </Form.Item>
          <Form.Item label={t('signIn.password')} name="password" rules={[{ required: true, message: t('form.required') }]}>
            <Input.Password autoComplete="current-password" data-testid="platform-password" />
          </Form.Item>
          <Button type="primary" htmlType="submit" block loading={busy} data-testid="platform-sign-in-submit">
            {t('signIn.submit')}
          </Button>
        </Form>
        <p style={{ marginTop: 12 }}>
          <Link to="/sign-in">{t('platform.tenantSignIn')}</Link>
        </p>
      </Card>
    </main>
  );
}
