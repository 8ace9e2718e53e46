import { Button } from 'antd';
import { useTranslation } from 'react-i18next';
import { useNavigate } from 'react-router';
import { signOut } from '../session';

/** Ends the session (tenant operator or platform admin) and goes to the sign-in page `to`. */
export function SignOutButton({ to }: { to: string }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  return (
    <Button
      size="small"
      data-testid="sign-out"
      onClick={async () => {
        await signOut();
        navigate(to, { replace: true });
      }}
    >
      {t('nav.signOut')}
    </Button>
  );
}
