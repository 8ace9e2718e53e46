import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Descriptions, Form, Input, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { ApiError, api, unwrap } from '../../api/client';
import { useCan } from '../../me';

interface Values {
  corp_id: string;
  token: string;
  encoding_aes_key: string;
}

/**
 * The tenant's WeCom callback settings: the URL to give WeCom, the corp id, and whether the token and
 * EncodingAESKey are set. The secrets are never shown back; saving sets all three again.
 */
export function WecomCallbackTab() {
  const { t } = useTranslation();
  const qc = useQueryClient();
  const { message } = App.useApp();
  const canWrite = useCan('tenant:write');
  const config = useQuery({
    queryKey: ['wecom-config'],
    queryFn: async () => {
      try {
        return unwrap(await api.GET('/api/v1/callbacks/wecom/config'));
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return null;
        throw e;
      }
    },
  });
  const save = useMutation({
    mutationFn: async (v: Values) => unwrap(await api.PUT('/api/v1/callbacks/wecom/config', { body: v })),
    onSuccess: (r) => {
      qc.setQueryData(['wecom-config'], r);
      void message.success(t('common.saved'));
    },
  });
  const c = config.data;
  return (
    <div data-testid="wecom-config">
      {c ? (
        <Descriptions column={1} size="small" bordered style={{ marginBottom: 16 }}>
          <Descriptions.Item label={t('settings.callbackUrl')}>
            <Typography.Text copyable code data-testid="wecom-callback-url">
              {new URL(c.callback_url, window.location.origin).toString()}
            </Typography.Text>
          </Descriptions.Item>
          <Descriptions.Item label={t('settings.corpId')}>{c.corp_id}</Descriptions.Item>
          <Descriptions.Item label={t('settings.token')}>{c.token_set ? t('settings.secretSet') : t('settings.secretUnset')}</Descriptions.Item>
          <Descriptions.Item label={t('settings.aesKey')}>{c.encoding_aes_key_set ? t('settings.secretSet') : t('settings.secretUnset')}</Descriptions.Item>
        </Descriptions>
      ) : (
        config.isSuccess && <Alert type="info" title={t('settings.notConfigured')} style={{ marginBottom: 16 }} />
      )}
      {canWrite && (
        <Form<Values> layout="vertical" onFinish={(v) => save.mutate(v)} style={{ maxWidth: 520 }} initialValues={{ corp_id: c?.corp_id ?? '' }} key={c?.updated_at ?? 'new'}>
          <Form.Item label={t('settings.corpId')} name="corp_id" rules={[{ required: true, whitespace: true, message: t('form.required') }]}>
            <Input data-testid="wecom-corp-id" autoComplete="off" />
          </Form.Item>
          <Form.Item label={t('settings.token')} name="token" rules={[{ required: true, message: t('form.required') }]}>
            <Input.Password data-testid="wecom-token" autoComplete="new-password" />
          </Form.Item>
          <Form.Item label={t('settings.aesKey')} name="encoding_aes_key" rules={[{ required: true, message: t('form.required') }]}>
            <Input.Password data-testid="wecom-aes-key" autoComplete="new-password" />
          </Form.Item>
          {save.error && <Alert type="error" role="alert" title={save.error.message} style={{ marginBottom: 12 }} />}
          <Button type="primary" htmlType="submit" loading={save.isPending} data-testid="wecom-save">
            {t('common.save')}
          </Button>
        </Form>
      )}
    </div>
  );
}
