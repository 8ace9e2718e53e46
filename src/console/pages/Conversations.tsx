import { useMutation } from '@tanstack/react-query';
import { App, Button, Empty, Segmented, Space } from 'antd';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useSearchParams } from 'react-router';
import { api, unwrap } from '../api/client';
import type { components } from '../api/schema';
import { AccountSelect, useAccountOptions } from '../components/AccountSelect';
import { CursorTable, useCursorPages } from '../components/CursorPager';
import { PageToolbar } from '../components/PageToolbar';
import { useCan } from '../me';

type Conversation = components['schemas']['Conversation'];
type TypeFilter = 'all' | 'private' | 'group';

/** An account's conversations (private chats and groups), as last synced from the phone. */
export default function Conversations() {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const canSync = useCan('conversations:sync');
  const [params, setParams] = useSearchParams();
  const { rows: accounts } = useAccountOptions();
  const accountId = params.get('account') ?? undefined;
  const [type, setType] = useState<TypeFilter>('all');
  // The first account is shown until one is picked.
  useEffect(() => {
    if (!accountId && accounts.length) setParams({ account: accounts[0].id }, { replace: true });
  }, [accountId, accounts, setParams]);
  const list = useCursorPages(
    ['conversations', accountId ?? null, type],
    async (cursor) => unwrap(await api.GET('/api/v1/accounts/{id}/conversations', { params: { path: { id: accountId! }, query: { limit: 50, ...(type !== 'all' ? { type } : {}), ...(cursor ? { cursor } : {}) } } })),
    { enabled: Boolean(accountId) },
  );
  const sync = useMutation({
    mutationFn: async () => unwrap(await api.POST('/api/v1/accounts/{id}/conversations/sync', { params: { path: { id: accountId! } } })),
    onSuccess: () => void message.success(t('conversations.syncQueued')),
    onError: (e) => void message.error(e.message),
  });
  return (
    <div data-testid="conversations">
      <PageToolbar title={t('nav.conversations')}>
        <AccountSelect value={accountId} onChange={(v) => setParams(v ? { account: v } : {})} label={t('conversations.pickAccount')} testId="conversations-account" />
        {canSync && accountId && (
          <Button onClick={() => sync.mutate()} loading={sync.isPending} data-testid="conversations-sync">
            {t('conversations.sync')}
          </Button>
        )}
      </PageToolbar>
      <Space style={{ marginBottom: 12 }}>
        <Segmented
          value={type}
          onChange={(v) => setType(v as TypeFilter)}
          options={[
            { value: 'all', label: t('tasks.all') },
            { value: 'private', label: t('wizard.private') },
            { value: 'group', label: t('wizard.group') },
          ]}
        />
      </Space>
      {accountId ? (
        <>
          <CursorTable<Conversation>
            pages={list}
            testId="conversations-table"
            pagerTestId="conversations"
            scrollX={700}
            columns={[
              { title: t('conversations.name'), dataIndex: 'conversation_name', render: (v: string | null, c) => v ?? c.conversation_id },
              { title: t('conversations.id'), dataIndex: 'conversation_id', ellipsis: true },
              { title: t('conversations.type'), dataIndex: 'conversation_type', render: (v: string) => t(`wizard.${v === 'group' ? 'group' : 'private'}`) },
              { title: t('conversations.members'), dataIndex: 'member_count', render: (v: number | null) => v ?? '—' },
              { title: t('conversations.lastMessage'), dataIndex: 'last_msg_time', render: (v: string | null) => (v ? new Date(v).toLocaleString() : '—') },
            ]}
          />
        </>
      ) : (
        <Empty description={t('conversations.pickAccount')} />
      )}
    </div>
  );
}
