import { Tag } from 'antd';
import { useTranslation } from 'react-i18next';

const COLORS: Record<string, string> = {
  online: 'green',
  completed: 'green',
  sent: 'green',
  delivered: 'cyan',
  running: 'blue',
  logging_in: 'blue',
  waiting_scan: 'gold',
  waiting_confirm: 'gold',
  need_verify: 'orange',
  recovering: 'orange',
  paused: 'orange',
  pending: 'default',
  sending: 'blue',
  offline: 'default',
  created: 'default',
  cancelled: 'default',
  error: 'red',
  failed: 'red',
  unknown: 'purple',
};

/** An account, task or message status, in the operator's language. */
export function StatusTag({ status, testId }: { status: string; testId?: string }) {
  const { t } = useTranslation();
  return (
    <Tag color={COLORS[status] ?? 'default'} data-testid={testId} data-status={status}>
      {t(`status.${status}`, { defaultValue: status })}
    </Tag>
  );
}
