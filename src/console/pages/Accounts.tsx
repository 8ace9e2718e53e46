import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Drawer, Form, Input, InputNumber, Modal, Select, Space, Timeline, Typography } from 'antd';
import { useCallback, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { api, unwrap } from '../api/client';
import { CursorTable, useCursorPages } from '../components/CursorPager';
import { PageToolbar } from '../components/PageToolbar';
import { StatusTag } from '../components/StatusTag';
import { LoginDialog } from '../components/LoginDialog';
import { useCan } from '../me';
import { useLiveEvent } from '../realtime';
import type { components } from '../api/schema';

type Account = components['schemas']['Account'];
interface StatusEvent {
  account_id: string;
  new_status: Account['status'];
}

const CHANNELS = ['simulator', 'wechaty', 'official'] as const;

interface NewAccount {
  account_name: string;
  channel?: (typeof CHANNELS)[number];
  token?: string;
  corp_id?: string;
  agent_id?: number;
  secret?: string;
  sender_userid?: string;
}

/** The create request: the channel's credentials only (none for the simulator or the server default). */
function createBody(v: NewAccount) {
  if (v.channel === 'wechaty') return { account_name: v.account_name, channel: v.channel, credentials: { token: v.token } };
  if (v.channel === 'official') {
    const sender = v.sender_userid?.trim();
    return { account_name: v.account_name, channel: v.channel, credentials: { corp_id: v.corp_id, agent_id: v.agent_id, secret: v.secret, ...(sender ? { sender_userid: sender } : {}) } };
  }
  return { account_name: v.account_name, ...(v.channel ? { channel: v.channel } : {}) };
}

/** The credential fields of the chosen channel. */
function CredentialFields({ channel }: { channel: NewAccount['channel'] }) {
  const { t } = useTranslation();
  const required = [{ required: true, message: t('form.required') }];
  if (channel === 'wechaty') {
    return (
      <Form.Item label={t('accounts.providerToken')} name="token" rules={required}>
        <Input.Password data-testid="account-token" autoComplete="off" />
      </Form.Item>
    );
  }
  if (channel !== 'official') return null;
  return (
    <>
      <Typography.Paragraph type="secondary">{t('accounts.officialHint')}</Typography.Paragraph>
      <Form.Item label={t('accounts.corpId')} name="corp_id" rules={required}>
        <Input data-testid="account-corp-id" autoComplete="off" />
      </Form.Item>
      <Form.Item label={t('accounts.agentId')} name="agent_id" rules={required}>
        <InputNumber data-testid="account-agent-id" min={1} style={{ width: '100%' }} />
      </Form.Item>
      <Form.Item label={t('accounts.appSecret')} name="secret" rules={required}>
        <Input.Password data-testid="account-secret" autoComplete="off" />
      </Form.Item>
      <Form.Item label={t('accounts.senderUserid')} name="sender_userid">
        <Input data-testid="account-sender" autoComplete="off" />
      </Form.Item>
    </>
  );
}

export default function Accounts() {
  const { t } = useTranslation();
  const qc = useQueryClient();
  const { message } = App.useApp();
  const canWrite = useCan('accounts:write');
  const canLogin = useCan('accounts:login');
  const [creating, setCreating] = useState(false);
  const [loginFor, setLoginFor] = useState<string | null>(null);
  const [historyFor, setHistoryFor] = useState<Account | null>(null);
  const list = useCursorPages(['accounts', 'page'], async (cursor) => unwrap(await api.GET('/api/v1/accounts', { params: { query: { limit: 50, ...(cursor ? { cursor } : {}) } } })));

  // The status chip follows account.status at once; the list is re-read behind it.
  const onStatus = useCallback(
    (e: StatusEvent) => {
      qc.setQueriesData({ queryKey: ['accounts'] }, (old: { data: Account[]; next_cursor: string | null } | undefined) =>
        old ? { ...old, data: old.data.map((a) => (a.id === e.account_id ? { ...a, status: e.new_status } : a)) } : old,
      );
      void qc.invalidateQueries({ queryKey: ['account-history', e.account_id] });
    },
    [qc],
  );
  useLiveEvent('account.status', onStatus);

  // A refused create (quota, name taken, gateway down) stays in the dialog, not in a passing toast.
  const create = useMutation({
    mutationFn: async (v: NewAccount) => unwrap(await api.POST('/api/v1/accounts', { body: createBody(v) })),
    onSuccess: () => {
      setCreating(false);
      void qc.invalidateQueries({ queryKey: ['accounts'] });
    },
  });
  const logout = useMutation({
    mutationFn: async (id: string) => unwrap(await api.POST('/api/v1/accounts/{id}/logout', { params: { path: { id } } })),
    onError: (e) => void message.error(e.message),
  });

  return (
    <div data-testid="accounts">
      <PageToolbar title={t('nav.accounts')}>
        {canWrite && (
          <Button type="primary" onClick={() => setCreating(true)} data-testid="account-create">
            {t('accounts.create')}
          </Button>
        )}
      </PageToolbar>
      <CursorTable<Account>
        pages={list}
        pagerTestId="accounts"
        scrollX={600}
        columns={[
          { title: t('accounts.name'), dataIndex: 'account_name' },
          { title: t('accounts.status'), dataIndex: 'status', render: (s: string, a) => <StatusTag status={s} testId={`account-status-${a.account_name}`} /> },
          { title: t('accounts.lastLogin'), dataIndex: 'last_login_time', render: (v: string | null) => (v ? new Date(v).toLocaleString() : '—') },
          {
            title: t('common.actions'),
            render: (_: unknown, a) => (
              <Space wrap>
                {canLogin && a.status !== 'online' && (
                  <Button size="small" onClick={() => setLoginFor(a.id)} data-testid={`account-login-${a.account_name}`}>
                    {t('accounts.login')}
                  </Button>
                )}
                {canLogin && a.status === 'online' && (
                  <Button size="small" onClick={() => logout.mutate(a.id)}>
                    {t('accounts.logout')}
                  </Button>
                )}
                <Button size="small" onClick={() => setHistoryFor(a)}>
                  {t('accounts.history')}
                </Button>
                <Link to={`/conversations?account=${a.id}`}>{t('nav.conversations')}</Link>
              </Space>
            ),
          },
        ]}
      />
      <Modal open={creating} title={t('accounts.create')} onCancel={() => setCreating(false)} afterOpenChange={(open) => open && create.reset()} footer={null} destroyOnHidden>
        <Form layout="vertical" onFinish={(v: NewAccount) => create.mutate(v)}>
          <Form.Item label={t('accounts.name')} name="account_name" rules={[{ required: true, message: t('form.required') }]}>
            <Input data-testid="account-name" autoFocus />
          </Form.Item>
          <Form.Item label={t('accounts.channel')} name="channel">
            <Select
              allowClear
              placeholder={t('accounts.channelDefault')}
              data-testid="account-channel"
              options={CHANNELS.map((c) => ({ value: c, label: t(`accounts.channels.${c}`) }))}
            />
          </Form.Item>
          <Form.Item noStyle shouldUpdate={(a: NewAccount, b: NewAccount) => a.channel !== b.channel}>
            {({ getFieldValue }) => <CredentialFields channel={getFieldValue('channel') as NewAccount['channel']} />}
          </Form.Item>
          {create.error && <Alert type="error" title={create.error.message} role="alert" data-testid="account-create-error" style={{ marginBottom: 12 }} />}
          <Button type="primary" htmlType="submit" loading={create.isPending} data-testid="account-create-submit">
            {t('common.create')}
          </Button>
        </Form>
      </Modal>
      {loginFor && <LoginDialog accountId={loginFor} onClose={() => setLoginFor(null)} />}
      <Drawer open={Boolean(historyFor)} onClose={() => setHistoryFor(null)} title={`${t('accounts.history')} · ${historyFor?.account_name ?? ''}`}>
        {historyFor && <History accountId={historyFor.id} />}
      </Drawer>
    </div>
  );
}

function History({ accountId }: { accountId: string }) {
  const h = useQuery({
    queryKey: ['account-history', accountId],
    queryFn: async () => unwrap(await api.GET('/api/v1/accounts/{id}/history', { params: { path: { id: accountId }, query: { limit: 50 } } })),
  });
  return (
    <Timeline
      items={(h.data?.data ?? []).map((e) => ({
        children: (
          <span>
            {new Date(e.created_at).toLocaleString()} · {e.old_status ?? '∅'} → <StatusTag status={e.new_status} /> {e.reason ?? ''}
          </span>
        ),
      }))}
    />
  );
}
