import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { ConfigProvider } from 'antd';
import { lazy, StrictMode, Suspense } from 'react';
import { createRoot } from 'react-dom/client';
import { createBrowserRouter, Navigate, RouterProvider } from 'react-router';
import './i18n';
import './styles.css';
import { RequireSession } from './require-session';

/**
 * Routes load lazily: the sign-in page ships React, the router and its own form, and each screen
 * arrives when first opened (the budget is checked by test/console/bundle-budget.test.ts).
 */
const SignIn = lazy(() => import('./pages/SignIn'));
const Shell = lazy(() => import('./pages/Shell'));
const Dashboard = lazy(() => import('./pages/Dashboard'));
const Accounts = lazy(() => import('./pages/Accounts'));
const Templates = lazy(() => import('./pages/Templates'));
const Tasks = lazy(() => import('./pages/Tasks'));
const TaskDetail = lazy(() => import('./pages/TaskDetail'));
const NewTask = lazy(() => import('./pages/NewTask'));
const Settings = lazy(() => import('./pages/Settings'));
const Messages = lazy(() => import('./pages/Messages'));
const Reports = lazy(() => import('./pages/Reports'));
const Callbacks = lazy(() => import('./pages/Callbacks'));
const Conversations = lazy(() => import('./pages/Conversations'));
const PlatformSignIn = lazy(() => import('./pages/PlatformSignIn'));
const PlatformShell = lazy(() => import('./pages/PlatformShell'));
const PlatformTenants = lazy(() => import('./pages/PlatformTenants'));
const PlatformAudit = lazy(() => import('./pages/PlatformAudit'));

const queryClient = new QueryClient({ defaultOptions: { queries: { retry: 1, refetchOnWindowFocus: false, staleTime: 5_000 } } });

const router = createBrowserRouter(
  [
    { path: '/sign-in', element: <SignIn /> },
    { path: '/platform/sign-in', element: <PlatformSignIn /> },
    {
      path: '/platform',
      element: <PlatformShell />,
      children: [
        { index: true, element: <Navigate to="/platform/tenants" replace /> },
        { path: '/platform/tenants', element: <PlatformTenants /> },
        { path: '/platform/audit', element: <PlatformAudit /> },
      ],
    },
    {
      element: (
        <RequireSession>
          <Shell />
        </RequireSession>
      ),
      children: [
        { index: true, element: <Navigate to="/dashboard" replace /> },
        { path: '/dashboard', element: <Dashboard /> },
        { path: '/accounts', element: <Accounts /> },
        { path: '/templates', element: <Templates /> },
        { path: '/tasks', element: <Tasks /> },
        { path: '/tasks/new', element: <NewTask /> },
        { path: '/tasks/:id', element: <TaskDetail /> },
        { path: '/settings', element: <Settings /> },
        { path: '/messages', element: <Messages /> },
        { path: '/reports', element: <Reports /> },
        { path: '/callbacks', element: <Callbacks /> },
        { path: '/conversations', element: <Conversations /> },
      ],
    },
    { path: '*', element: <Navigate to="/dashboard" replace /> },
  ],
  { basename: '/console' },
);

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      {/* Colours that meet WCAG AA contrast (4.5:1): antd's primary blue and grey texts do not. */}
      <ConfigProvider
        theme={{
          token: {
            colorPrimary: '#0958d9',
            colorLink: '#0958d9',
            colorTextSecondary: 'rgba(0, 0, 0, 0.68)',
            colorTextTertiary: 'rgba(0, 0, 0, 0.64)',
            colorTextDescription: 'rgba(0, 0, 0, 0.64)',
            colorTextPlaceholder: 'rgba(0, 0, 0, 0.6)',
            // antd's red (#ff4d4f) is 3.9:1 on white: danger buttons and error texts need a darker one.
            colorError: '#c41d1f',
          },
          // A hovered tab turns antd's lighter hover blue, below 4.5:1 on white.
          components: { Tabs: { itemHoverColor: '#003eb3' } },
        }}
      >
        <Suspense fallback={<div className="boot" role="status" aria-label="loading" />}>
          <RouterProvider router={router} />
        </Suspense>
      </ConfigProvider>
    </QueryClientProvider>
  </StrictMode>,
);
