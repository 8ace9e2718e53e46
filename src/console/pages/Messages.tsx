import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Form, Input, InputNumber, Modal, Radio, Select, Space } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { api, unwrap } from '../api/client';
import type { components } from '../api/schema';
import { AccountSelect, useAccountOptions } from '../components/AccountSelect';
import { CursorTable, useCursorPages } from '../components/CursorPager';
import { PageToolbar } from '../components/PageToolbar';
import { StatusTag } from '../components/StatusTag';
import { TemplateSelect } from '../components/TemplateSelect';
import { useCan } from '../me';
import { useLiveInvalidate } from '../realtime';

type Message = components['schemas']['Message'];
const STATUSES = ['pending', 'sending', 'sent', 'delivered', 'failed', 'cancelled', 'unknown'] as const;

/** What a message says, in one line: its text, or its kind and title. */
function summary(content: Record<string, unknown>): string {
  return String(content.text ?? content.title ?? content.file_name ?? content.url ?? content.type ?? '');
}

/** Single messages and every message of the tenant: filter by status, account and conversation; newest first. */
export default function Messages() {
  const { t } = useTranslation();
  const qc = useQueryClient();
  const canSend = useCan('messages:send');
  const { nameOf } = useAccountOptions();
  const [status, setStatus] = useState<(typeof STATUSES)[number] | undefined>();
  const [accountId, setAccountId] = useState<string | undefined>();
  const [conversation, setConversation] = useState('');
  const [sending, setSending] = useState(false);
  const filters = { ...(status ? { status } : {}), ...(accountId ? { account_id: accountId } : {}), ...(conversation.trim() ? { conversation_id: conversation.trim() } : {}) };
  const list = useCursorPages(['messages', filters], async (cursor) => unwrap(await api.GET('/api/v1/messages', { params: { query: { limit: 50, ...filters, ...(cursor ? { cursor } : {}) } } })));
  // A campaign's progress means message rows changed: re-read the page on screen, at most once a second.
  useLiveInvalidate('task.progress', [['messages']]);

  return (
    <div data-testid="messages">
      <PageToolbar title={t('nav.messages')}>
        {canSend && (
          <Button type="primary" onClick={() => setSending(true)} data-testid="message-send">
            {t('messages.send')}
          </Button>
        )}
      </PageToolbar>
      <Space wrap style={{ marginBottom: 12 }}>
        <Select
          allowClear
          value={status}
          onChange={setStatus}
          placeholder={t('messages.status')}
          aria-label={t('messages.status')}
          data-testid="messages-status"
          style={{ width: 150 }}
          options={STATUSES.map((s) => ({ value: s, label: t(`status.${s}`) }))}
        />
        <AccountSelect value={accountId} onChange={setAccountId} allowClear label={t('messages.account')} testId="messages-account" />
        <Input.Search allowClear placeholder={t('messages.conversation')} aria-label={t('messages.conversation')} onSearch={setConversation} style={{ width: 220 }} data-testid="messages-conversation" />
      </Space>
      <CursorTable<Message>
        pages={list}
        testId="messages-table"
        pagerTestId="messages"
        scrollX={900}
        columns={[
          { title: t('messages.created'), dataIndex: 'created_at', render: (v: string) => new Date(v).toLocaleString() },
          { title: t('messages.account'), dataIndex: 'account_id', render: (v: string) => nameOf(v) },
          { title: t('messages.conversation'), dataIndex: 'conversation_id' },
          { title: t('messages.content'), dataIndex: 'content', ellipsis: true, render: (c: Record<string, unknown>) => summary(c) },
          { title: t('messages.status'), dataIndex: 'status', render: (s: string) => <StatusTag status={s} /> },
          { title: t('messages.error'), dataIndex: 'error_code', render: (v: string | null, m) => (v ? `${v} ${m.error_message ?? ''}` : '') },
          { title: t('messages.task'), dataIndex: 'task_id', render: (v: string | null) => (v ? <Link to={`/tasks/${v}`}>{v.slice(0, 8)}</Link> : '—') },
          { title: t('messages.priority'), dataIndex: 'priority' },
        ]}
      />
      {sending && (
        <SendDialog
          onClose={() => setSending(false)}
          onSent={() => {
            setSending(false);
            void qc.invalidateQueries({ queryKey: ['messages'] });
          }}
        />
      )}
    </div>
  );
}

interface SendValues {
  account_id: string;
  conversation_id: string;
  source: 'text' | 'template';
  text?: string;
  template_id?: string;
  priority: number;
  scheduled?: string;
}

function SendDialog({ onClose, onSent }: { onClose: () => void; onSent: () => void }) {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const [form] = Form.useForm<SendValues>();
  const source = Form.useWatch('source', form) ?? 'text';
  const send = useMutation({
    mutationFn: async (v: SendValues) =>
      unwrap(
        await api.POST('/api/v1/messages', {
          body: {
            account_id: v.account_id,
            conversation_id: v.conversation_id.trim(),
            ...(v.source === 'template' ? { template_id: v.template_id } : { content: { type: 'text', text: v.text ?? '' } }),
            priority: v.priority,
            ...(v.scheduled ? { scheduled_time: new Date(v.scheduled).toISOString() } : {}),
          } as never,
        }),
      ),
    onSuccess: () => {
      void message.success(t('messages.queued'));
      onSent();
    },
  });
  return (
    <Modal open title={t('messages.send')} onCancel={onClose} onOk={() => form.submit()} okText={t('messages.send')} okButtonProps={{ loading: send.isPending, ...({ 'data-testid': 'message-send-submit' } as object) }} destroyOnHidden>
      <Form form={form} layout="vertical" initialValues={{ source: 'text', priority: 5 }} onFinish={(v) => send.mutate(v)}>
        <Form.Item label={t('messages.account')} name="account_id" rules={[{ required: true, message: t('form.required') }]}>
          <AccountSelect onChange={(v) => form.setFieldValue('account_id', v)} label={t('messages.account')} testId="message-account" />
        </Form.Item>
        <Form.Item label={t('messages.conversation')} name="conversation_id" rules={[{ required: true, whitespace: true, message: t('form.required') }]}>
          <Input data-testid="message-conversation" />
        </Form.Item>
        <Form.Item name="source">
          <Radio.Group
            options={[
              { value: 'text', label: t('messages.text') },
              { value: 'template', label: t('wizard.fromTemplate') },
            ]}
          />
        </Form.Item>
        {source === 'text' ? (
          <Form.Item label={t('messages.text')} name="text" rules={[{ required: true, whitespace: true, message: t('form.required') }]}>
            <Input.TextArea rows={3} data-testid="message-text" />
          </Form.Item>
        ) : (
          <Form.Item label={t('wizard.pickTemplate')} name="template_id" rules={[{ required: true, message: t('form.required') }]}>
            <TemplateSelect onChange={(v) => form.setFieldValue('template_id', v)} label={t('wizard.pickTemplate')} testId="message-template" />
          </Form.Item>
        )}
        <Space wrap>
          <Form.Item label={t('messages.priority')} name="priority">
            <InputNumber min={1} max={10} />
          </Form.Item>
          <Form.Item label={t('messages.scheduled')} name="scheduled">
            <Input type="datetime-local" />
          </Form.Item>
        </Space>
        {send.error && <Alert type="error" role="alert" title={send.error.message} data-testid="message-send-error" />}
      </Form>
    </Modal>
  );
}
