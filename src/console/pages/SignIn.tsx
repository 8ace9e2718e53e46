import { Form, Input } from 'antd';
import { useTranslation } from 'react-i18next';
import { useLocation, useNavigate } from 'react-router';
import { SignInCard } from '../components/SignInCard';
import { signIn } from '../session';

/** Tenant operators sign in with their tenant's code; back to the page they came from. */
export default function SignIn() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const from = (useLocation().state as { from?: string } | null)?.from ?? '/dashboard';
  return (
    <SignInCard<{ tenant_code: string; username: string; password: string }>
      title={t('app.name')}
      formLabel={t('signIn.title')}
      testIds={{ error: 'sign-in-error', username: 'username', password: 'password', submit: 'sign-in-submit' }}
      fields={
        <Form.Item label={t('signIn.tenant')} name="tenant_code" rules={[{ required: true, message: t('form.required') }]}>
          <Input autoComplete="organization" data-testid="tenant" />
        </Form.Item>
      }
      signIn={async (v) => {
        await signIn(v.tenant_code.trim(), v.username.trim(), v.password);
        navigate(from, { replace: true });
      }}
      link={{ to: '/platform/sign-in', text: t('platform.signIn'), testId: 'platform-link' }}
    />
  );
}
