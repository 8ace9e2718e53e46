import { Modal, Statistic, Table, Tag } from 'antd';
import { useTranslation } from 'react-i18next';
import type { components } from '../api/schema';

/** A dry run's answer: the audience count and the first messages as they would be sent. */
export function DryRunModal({ result, onClose }: { result: components['schemas']['TaskDryRun'] | null; onClose: () => void }) {
  const { t } = useTranslation();
  return (
    <Modal open={result !== null} title={t('tasks.dryRunTitle')} onCancel={onClose} footer={null} width={720}>
      {result && (
        <div data-testid="dry-run">
          <Statistic title={t('wizard.audience')} value={t('tasks.audienceCount', { count: result.audience.count })} data-testid="dry-run-count" />
          <Table
            rowKey="conversation_id"
            size="small"
            pagination={false}
            dataSource={result.samples}
            style={{ marginTop: 12 }}
            columns={[
              { title: t('tasks.conversation'), dataIndex: 'conversation_id' },
              { title: t('tasks.sampleAccount'), dataIndex: 'account_id', render: (v: string) => v.slice(-8) },
              {
                title: t('tasks.sampleContent'),
                dataIndex: 'content',
                render: (c: Record<string, unknown> | null, row) => (c ? String(c.text ?? JSON.stringify(c)) : <Tag color="#a8071a">{row.error}</Tag>),
              },
            ]}
          />
        </div>
      )}
    </Modal>
  );
}
