import { useTranslation } from 'react-i18next';
import { useNavigate } from 'react-router';
import { SignInCard } from '../components/SignInCard';
import { platformSignIn } from '../session';

/** The platform admin's sign-in: no tenant code. */
export default function PlatformSignIn() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  return (
    <SignInCard
      title={t('platform.signIn')}
      testIds={{ error: 'platform-sign-in-error', username: 'platform-username', password: 'platform-password', submit: 'platform-sign-in-submit' }}
      signIn={async (v) => {
        await platformSignIn(v.username.trim(), v.password);
        navigate('/platform/tenants', { replace: true });
      }}
      link={{ to: '/sign-in', text: t('platform.tenantSignIn') }}
    />
  );
}
