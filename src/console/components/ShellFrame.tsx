import { App, ConfigProvider, Layout } from 'antd';
import enUS from 'antd/locale/en_US';
import zhCN from 'antd/locale/zh_CN';
import { Suspense } from 'react';
import { useTranslation } from 'react-i18next';
import { Outlet } from 'react-router';
import { LanguageSwitch } from './LanguageSwitch';
import { SignOutButton } from './SignOutButton';

/** antd in the console's language, with its App context (messages, modals): around each signed-in frame. */
export function LocalizedApp({ children }: { children: React.ReactNode }) {
  const { i18n } = useTranslation();
  return (
    <ConfigProvider locale={i18n.language === 'en' ? enUS : zhCN}>
      <App>{children}</App>
    </ConfigProvider>
  );
}

/** The top bar of a signed-in frame: its title, what the frame adds (`children`), language, sign-out. */
export function ShellHeader({ title, signOutTo, children }: { title: string; signOutTo: string; children?: React.ReactNode }) {
  return (
    <Layout.Header className="shell-header">
      <h1>{title}</h1>
      <span style={{ display: 'flex', gap: 8, alignItems: 'center' }}>
        {children}
        <LanguageSwitch />
        <SignOutButton to={signOutTo} />
      </span>
    </Layout.Header>
  );
}

/** The frame's body: the route's screen, loaded on first use. */
export function ShellContent() {
  return (
    <Layout.Content className="shell-content">
      <Suspense fallback={<div role="status" aria-label="loading" />}>
        <Outlet />
      </Suspense>
    </Layout.Content>
  );
}
