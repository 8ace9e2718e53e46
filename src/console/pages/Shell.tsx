import { Grid, Layout, Menu, Tag } from 'antd';
import { useTranslation } from 'react-i18next';
import { useLocation, useNavigate } from 'react-router';
import { LocalizedApp, ShellContent, ShellHeader } from '../components/ShellFrame';
import { useMe } from '../me';
import { useLiveConnected } from '../realtime';

const ITEMS = ['dashboard', 'accounts', 'conversations', 'templates', 'tasks', 'messages', 'reports', 'callbacks', 'settings'] as const;

export default function Shell() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const location = useLocation();
  const me = useMe().data;
  const live = useLiveConnected();
  const screens = Grid.useBreakpoint();
  const phone = !screens.md;
  const selected = ITEMS.find((k) => location.pathname.startsWith(`/${k}`)) ?? 'dashboard';
  const menu = (
    <Menu
      mode={phone ? 'horizontal' : 'inline'}
      selectedKeys={[selected]}
      items={ITEMS.map((k) => ({ key: k, label: t(`nav.${k}`) }))}
      onClick={(e) => navigate(`/${e.key}`)}
      aria-label={t('nav.label')}
      data-testid="nav"
    />
  );
  return (
    <LocalizedApp>
      <Layout style={{ minHeight: '100vh' }}>
        {!phone && (
          <Layout.Sider theme="light" width={200}>
            <nav>{menu}</nav>
          </Layout.Sider>
        )}
        <Layout>
          <ShellHeader title={t('app.name')} signOutTo="/sign-in">
            <Tag color={live ? '#237804' : undefined} data-testid="live-indicator" data-connected={String(live)}>
              {live ? t('live.on') : t('live.off')}
            </Tag>
            {!phone && <span data-testid="whoami">{me?.user?.username}</span>}
          </ShellHeader>
          {phone && <nav>{menu}</nav>}
          <ShellContent />
        </Layout>
      </Layout>
    </LocalizedApp>
  );
}
