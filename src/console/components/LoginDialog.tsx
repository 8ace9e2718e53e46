import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Form, Input, Modal, Result, Steps } from 'antd';
import { useCallback, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, ApiError, fetchBlob, unwrap } from '../api/client';
import { useLiveEvent } from '../realtime';
import { StatusTag } from './StatusTag';

const STEP: Record<string, number> = { created: 0, logging_in: 0, waiting_scan: 0, waiting_confirm: 1, need_verify: 2, online: 3 };

/**
 * The QR login of one account, driven by live events: account.qr replaces the image, account.status
 * moves the steps (scan → confirm on the phone → verify code → online). Starts the login when opened.
 */
export function LoginDialog({ accountId, onClose }: { accountId: string; onClose: () => void }) {
  const { t } = useTranslation();
  const qc = useQueryClient();
  const [qrUrl, setQrUrl] = useState<string | null>(null);
  const [qrVersion, setQrVersion] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [verifyError, setVerifyError] = useState<string | null>(null);
  const account = useQuery({ queryKey: ['account', accountId], queryFn: async () => unwrap(await api.GET('/api/v1/accounts/{id}', { params: { path: { id: accountId } } })) });
  const status = account.data?.status ?? 'created';

  useEffect(() => {
    void (async () => {
      try {
        unwrap(await api.POST('/api/v1/accounts/{id}/login', { params: { path: { id: accountId } } }));
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 409)) setError((e as Error).message);
      }
      void account.refetch();
    })();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [accountId]);

  // The QR image: fetched with the session (an <img> cannot send the bearer token), shown as a blob URL.
  useEffect(() => {
    if (status !== 'waiting_scan' && status !== 'logging_in') return;
    let url: string | null = null;
    let cancelled = false;
    fetchBlob(`/api/v1/accounts/${accountId}/qr`)
      .then((blob) => {
        if (cancelled) return;
        url = URL.createObjectURL(blob);
        setQrUrl(url);
      })
      .catch(() => undefined);
    return () => {
      cancelled = true;
      if (url) URL.revokeObjectURL(url);
    };
  }, [accountId, status, qrVersion]);

  const onQr = useCallback((e: { account_id: string }) => e.account_id === accountId && setQrVersion((v) => v + 1), [accountId]);
  const onStatus = useCallback(
    (e: { account_id: string; new_status: string }) => {
      if (e.account_id !== accountId) return;
      qc.setQueryData(['account', accountId], (old: object | undefined) => (old ? { ...old, status: e.new_status } : old));
    },
    [accountId, qc],
  );
  useLiveEvent('account.qr', onQr);
  useLiveEvent('account.status', onStatus);

  // A wrong code also comes back as a need_verify event; the error is cleared only by the next try.
  const verify = async (v: { code: string }) => {
    setVerifyError(null);
    try {
      unwrap(await api.POST('/api/v1/accounts/{id}/verify', { params: { path: { id: accountId } }, body: { code: v.code } }));
    } catch (e) {
      setVerifyError((e as Error).message);
    }
  };

  return (
    <Modal open title={t('login.title')} onCancel={onClose} footer={<Button onClick={onClose}>{t('common.close')}</Button>} destroyOnHidden>
      <div data-testid="login-dialog" data-status={status}>
        <Steps
          size="small"
          current={STEP[status] ?? 0}
          items={[{ title: t('login.scan') }, { title: t('login.confirm') }, { title: t('login.verify') }, { title: t('login.online') }]}
          responsive={false}
        />
        <div style={{ margin: '12px 0' }}>
          <StatusTag status={status} testId="login-status" />
        </div>
        {error && <Alert type="error" title={error} />}
        {(status === 'waiting_scan' || status === 'logging_in') && (
          <div className="qr-box">{qrUrl ? <img src={qrUrl} alt={t('login.qrAlt')} data-testid="login-qr" /> : <span>{t('login.preparing')}</span>}</div>
        )}
        {status === 'waiting_confirm' && <Alert type="info" title={t('login.confirmOnPhone')} />}
        {status === 'need_verify' && (
          <Form layout="inline" onFinish={verify} aria-label={t('login.verify')}>
            <Form.Item name="code" label={t('login.code')} rules={[{ required: true, message: t('form.required') }]}>
              <Input autoFocus data-testid="verify-code" inputMode="numeric" />
            </Form.Item>
            <Button type="primary" htmlType="submit" data-testid="verify-submit">
              {t('login.submitCode')}
            </Button>
            {verifyError && <Alert type="error" title={verifyError} data-testid="verify-error" />}
          </Form>
        )}
        {status === 'online' && <Result status="success" title={t('login.done')} />}
        {(status === 'error' || status === 'offline') && <Alert type="warning" title={account.data?.error_message ?? t('login.failed')} />}
      </div>
    </Modal>
  );
}
