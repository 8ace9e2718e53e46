import { Alert, Button, Card, Form, Input, Typography } from 'antd';
import { useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { AuthError } from '../session';
import { LanguageSwitch } from './LanguageSwitch';

/** Lockout (423) and rate limiting (429) are told apart from a wrong password: each says when to retry. */
function describe(err: unknown, t: (k: string, o?: Record<string, unknown>) => string): { text: string; kind: string } {
  if (!(err instanceof AuthError)) return { text: t('signIn.unreachable'), kind: 'network' };
  if (err.status === 423) {
    const until = err.details?.locked_until ? new Date(String(err.details.locked_until)).toLocaleString() : '';
    return { text: t('signIn.locked', { until }), kind: 'locked' };
  }
  if (err.status === 429) return { text: t('signIn.rateLimited', { seconds: err.retryAfter ?? 60 }), kind: 'rate_limited' };
  if (err.code === 'tenant_suspended') return { text: t('signIn.suspended'), kind: err.code };
  if (err.code === 'account_inactive') return { text: t('signIn.inactive'), kind: err.code };
  if (err.status === 401) return { text: t('signIn.invalid'), kind: err.code };
  return { text: err.message, kind: err.code };
}

interface Credentials {
  username: string;
  password: string;
}

/**
 * A sign-in page (tenant operators, platform admin): title and language, the last attempt's error,
 * `fields` before the username and password, submit, and a link to the other sign-in. `signIn` throws
 * an AuthError when refused.
 */
export function SignInCard<V extends Credentials>({
  title,
  formLabel = title,
  testIds,
  fields,
  signIn,
  link,
}: {
  title: string;
  formLabel?: string;
  testIds: { error: string; username: string; password: string; submit: string };
  fields?: ReactNode;
  signIn: (v: V) => Promise<void>;
  link: { to: string; text: string; testId?: string };
}) {
  const { t } = useTranslation();
  const [error, setError] = useState<{ text: string; kind: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (v: V) => {
    setBusy(true);
    setError(null);
    try {
      await signIn(v);
    } catch (err) {
      setError(describe(err, t));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="sign-in">
      <Card className="sign-in-card">
        <div className="sign-in-head">
          <Typography.Title level={1}>{title}</Typography.Title>
          <LanguageSwitch />
        </div>
        {error && <Alert type="error" showIcon title={error.text} data-testid={testIds.error} data-kind={error.kind} role="alert" />}
        <Form<V> layout="vertical" onFinish={submit} requiredMark={false} aria-label={formLabel}>
          {fields}
          <Form.Item label={t('signIn.username')} name="username" rules={[{ required: true, message: t('form.required') }]}>
            <Input autoComplete="username" data-testid={testIds.username} />
          </Form.Item>
          <Form.Item label={t('signIn.password')} name="password" rules={[{ required: true, message: t('form.required') }]}>
            <Input.Password autoComplete="current-password" data-testid={testIds.password} />
          </Form.Item>
          <Button type="primary" htmlType="submit" block loading={busy} data-testid={testIds.submit}>
            {t('signIn.submit')}
          </Button>
        </Form>
        <p style={{ marginTop: 12 }}>
          <Link to={link.to} data-testid={link.testId}>
            {link.text}
          </Link>
        </p>
      </Card>
    </main>
  );
}
