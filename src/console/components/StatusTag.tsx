import { Tag } from 'antd';
import { useTranslation } from 'react-i18next';

// Dark enough for white text (WCAG AA): antd's preset tag colours are too pale for their text.
const GREEN = '#237804';
const BLUE = '#0958d9';
const GOLD = '#874d00';
const ORANGE = '#ad4e00';
const RED = '#a8071a';
const COLORS: Record<string, string | undefined> = {
  online: GREEN,
  completed: GREEN,
  sent: GREEN,
  delivered: '#006d75',
  processed: GREEN,
  running: BLUE,
  logging_in: BLUE,
  sending: BLUE,
  waiting_scan: GOLD,
  waiting_confirm: GOLD,
  need_verify: ORANGE,
  recovering: ORANGE,
  paused: ORANGE,
  suspended: ORANGE,
  error: RED,
  failed: RED,
  unknown: '#391085',
};

/** An account, task or message status, in the operator's language. */
export function StatusTag({ status, testId }: { status: string; testId?: string }) {
  const { t } = useTranslation();
  return (
    <Tag color={COLORS[status]} data-testid={testId} data-status={status}>
      {t(`status.${status}`, { defaultValue: status })}
    </Tag>
  );
}
