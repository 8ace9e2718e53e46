import { Layout, Menu } from 'antd';
import { useSyncExternalStore } from 'react';
import { useTranslation } from 'react-i18next';
import { Navigate, useLocation, useNavigate } from 'react-router';
import { LocalizedApp, ShellContent, ShellHeader } from '../components/ShellFrame';
import { isPlatformSession, onSessionChange } from '../session';

const ITEMS = ['tenants', 'audit'] as const;

/** The platform admin's frame: tenants and the audit log of every tenant. Signed out, it goes to the sign-in. */
export default function PlatformShell() {
  const { t } = useTranslation();
  const signedIn = useSyncExternalStore(onSessionChange, isPlatformSession);
  const navigate = useNavigate();
  const location = useLocation();
  if (!signedIn) return <Navigate to="/platform/sign-in" replace />;
  const selected = ITEMS.find((k) => location.pathname.startsWith(`/platform/${k}`)) ?? 'tenants';
  return (
    <LocalizedApp>
      <Layout style={{ minHeight: '100vh' }}>
        <ShellHeader title={t('platform.title')} signOutTo="/platform/sign-in" />
        <nav>
          <Menu mode="horizontal" selectedKeys={[selected]} items={ITEMS.map((k) => ({ key: k, label: t(`nav.${k}`) }))} onClick={(e) => navigate(`/platform/${e.key}`)} aria-label={t('nav.label')} data-testid="platform-nav" />
        </nav>
        <ShellContent />
      </Layout>
    </LocalizedApp>
  );
}
