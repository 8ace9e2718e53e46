import { useMutation, useQueryClient } from '@tanstack/react-query';
import { App, Button, Checkbox, Col, Form, Input, Modal, Popconfirm, Row, Select, Space } from 'antd';
import { useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap, uploadFile } from '../api/client';
import type { components } from '../api/schema';
import { CursorTable, useCursorPages } from '../components/CursorPager';
import { PageToolbar } from '../components/PageToolbar';
import { useCan } from '../me';

type Template = components['schemas']['Template'];
type Content = Record<string, unknown> & { type: string };
interface Variable {
  name: string;
  required?: boolean;
  default?: string;
  sample?: string;
}

const TYPES = ['text', 'image', 'file', 'link', 'miniprogram', 'at', 'markdown'] as const;

/** {{name}} placeholders filled with sample values (or defaults) for the phone preview. */
function fill(text: string, vars: Variable[]): string {
  return text.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (m, name: string) => {
    const v = vars.find((x) => x.name === name);
    return v?.sample || v?.default || m;
  });
}

export function PhonePreview({ content, vars }: { content: Content; vars: Variable[] }) {
  const body =
    content.type === 'text' || content.type === 'at' || content.type === 'markdown'
      ? fill(String(content.text ?? ''), vars)
      : content.type === 'link'
        ? `🔗 ${fill(String(content.title ?? ''), vars)}\n${String(content.url ?? '')}`
        : content.type === 'miniprogram'
          ? `▣ ${String(content.title ?? '')}`
          : content.type === 'image'
            ? `🖼 ${String(content.file_id ?? content.url ?? '')}`
            : `📎 ${String(content.file_name ?? content.file_id ?? content.url ?? '')}`;
  return (
    <div className="phone" aria-label="preview" data-testid="template-preview">
      <div className="bubble">{body}</div>
    </div>
  );
}

export default function Templates() {
  const { t } = useTranslation();
  const qc = useQueryClient();
  const { message } = App.useApp();
  const canWrite = useCan('templates:write');
  // null: closed; 'new': creating; a template: editing it.
  const [editing, setEditing] = useState<Template | 'new' | null>(null);
  const remove = useMutation({
    mutationFn: async (id: string) => unwrap(await api.DELETE('/api/v1/templates/{id}', { params: { path: { id } } })),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['templates'] });
      void message.success(t('templates.deleted'));
    },
    onError: (e) => void message.error(e.message),
  });
  const list = useCursorPages(['templates', 'page'], async (cursor) => unwrap(await api.GET('/api/v1/templates', { params: { query: { limit: 50, ...(cursor ? { cursor } : {}) } } })));
  return (
    <div data-testid="templates">
      <PageToolbar title={t('nav.templates')}>
        {canWrite && (
          <Button type="primary" onClick={() => setEditing('new')} data-testid="template-create">
            {t('templates.create')}
          </Button>
        )}
      </PageToolbar>
      <CursorTable<Template>
        pages={list}
        pagerTestId="templates"
        scrollX={500}
        columns={[
          { title: t('templates.name'), dataIndex: 'name' },
          { title: t('templates.type'), dataIndex: 'type', render: (v: string) => t(`templates.types.${v}`) },
          { title: t('templates.variables'), dataIndex: 'variables', render: (v: Variable[]) => v.map((x) => `${x.name}${x.required ? '*' : ''}`).join(', ') },
          { title: t('templates.usage'), dataIndex: 'usage_count' },
          ...(canWrite
            ? [
                {
                  title: t('common.actions'),
                  render: (_: unknown, r: Template) => (
                    <Space wrap>
                      <Button size="small" onClick={() => setEditing(r)} data-testid={`template-edit-${r.name}`}>
                        {t('common.edit')}
                      </Button>
                      <Popconfirm title={t('templates.confirmDelete', { name: r.name })} onConfirm={() => remove.mutate(r.id)} okText={t('common.delete')} cancelText={t('common.cancel')}>
                        <Button size="small" danger data-testid={`template-delete-${r.name}`}>
                          {t('common.delete')}
                        </Button>
                      </Popconfirm>
                    </Space>
                  ),
                },
              ]
            : []),
        ]}
      />
      {editing && (
        <TemplateEditor
          template={editing === 'new' ? undefined : editing}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            void qc.invalidateQueries({ queryKey: ['templates'] });
            void message.success(t('common.saved'));
          }}
        />
      )}
    </div>
  );
}

/** The editor's form values of a stored template: its content fields, variables and sample values. */
function formValues(tpl: Template): Record<string, unknown> {
  const samples = (tpl.preview_data ?? {}) as Record<string, unknown>;
  return {
    name: tpl.name,
    ...tpl.content,
    type: String(tpl.content.type ?? tpl.type),
    variables: tpl.variables.map((v) => ({ name: v.name, required: v.required, default: v.default, sample: samples[v.name] === undefined ? undefined : String(samples[v.name]) })),
  };
}

function TemplateEditor({ template, onClose, onSaved }: { template?: Template; onClose: () => void; onSaved: () => void }) {
  const { t } = useTranslation();
  const [form] = Form.useForm();
  const values = Form.useWatch([], form) as { name?: string; type?: string; text?: string; title?: string; url?: string; file_id?: string; file_name?: string; app_id?: string; page_path?: string; variables?: Variable[] } | undefined;
  const [error, setError] = useState<string | null>(null);
  const type = values?.type ?? 'text';
  const content = useMemo<Content>(() => {
    const v = values ?? {};
    switch (type) {
      case 'text':
      case 'at':
      case 'markdown':
        return { type, text: v.text ?? '', ...(type === 'at' ? { user_ids: (template?.content.user_ids as string[] | undefined) ?? [] } : {}) };
      case 'link':
        return { type, title: v.title ?? '', url: v.url ?? '' };
      case 'miniprogram':
        return { type, title: v.title ?? '', app_id: v.app_id ?? '', page_path: v.page_path ?? '' };
      default:
        return { type, ...(v.file_id ? { file_id: v.file_id } : {}), ...(v.url ? { url: v.url } : {}), ...(v.file_name ? { file_name: v.file_name } : {}) };
    }
  }, [type, values, template]);
  const vars = (values?.variables ?? []).filter((v) => v?.name);
  const save = useMutation({
    mutationFn: async () => {
      const body = {
        name: values?.name ?? '',
        content: content as never,
        variables: vars.map((v) => ({ name: v.name, required: Boolean(v.required), ...(v.default ? { default: v.default } : {}) })),
        preview_data: Object.fromEntries(vars.filter((v) => v.sample).map((v) => [v.name, v.sample!])),
      };
      return template
        ? unwrap(await api.PATCH('/api/v1/templates/{id}', { params: { path: { id: template.id } }, body }))
        : unwrap(await api.POST('/api/v1/templates', { body }));
    },
    onSuccess: onSaved,
    onError: (e) => setError(e.message),
  });
  return (
    <Modal open width={860} title={template ? t('templates.edit', { name: template.name }) : t('templates.create')} onCancel={onClose} onOk={() => form.submit()} okText={t('common.save')} okButtonProps={{ loading: save.isPending, ...({ 'data-testid': 'template-save' } as object) }}>
      <Row gutter={16}>
        <Col xs={24} md={14}>
          <Form form={form} layout="vertical" initialValues={template ? formValues(template) : { type: 'text', variables: [] }} onFinish={() => save.mutate()}>
            <Form.Item label={t('templates.name')} name="name" rules={[{ required: true, message: t('form.required') }]}>
              <Input data-testid="template-name" />
            </Form.Item>
            <Form.Item label={t('templates.type')} name="type">
              <Select options={TYPES.map((x) => ({ value: x, label: t(`templates.types.${x}`) }))} />
            </Form.Item>
            {(type === 'text' || type === 'at' || type === 'markdown') && (
              <Form.Item label={t('templates.text')} name="text" rules={[{ required: true, message: t('form.required') }]} extra={t('templates.placeholderHint')}>
                <Input.TextArea rows={4} data-testid="template-text" />
              </Form.Item>
            )}
            {(type === 'link' || type === 'miniprogram') && (
              <Form.Item label={t('templates.title')} name="title" rules={[{ required: true, message: t('form.required') }]}>
                <Input />
              </Form.Item>
            )}
            {type === 'link' && (
              <Form.Item label="URL" name="url" rules={[{ required: true, message: t('form.required') }]}>
                <Input />
              </Form.Item>
            )}
            {type === 'miniprogram' && (
              <>
                <Form.Item label="App ID" name="app_id" rules={[{ required: true, message: t('form.required') }]}>
                  <Input />
                </Form.Item>
                <Form.Item label={t('templates.pagePath')} name="page_path" rules={[{ required: true, message: t('form.required') }]}>
                  <Input />
                </Form.Item>
              </>
            )}
            {(type === 'image' || type === 'file') && (
              <Form.Item label={t('templates.upload')} name="file_id" rules={[{ required: true, message: t('form.required') }]}>
                <FileField onName={(n) => form.setFieldValue('file_name', n)} />
              </Form.Item>
            )}
            <Form.List name="variables">
              {(fields, { add, remove }) => (
                <>
                  {fields.map((f) => (
                    <Space key={f.key} wrap align="baseline">
                      <Form.Item name={[f.name, 'name']} rules={[{ required: true, pattern: /^[A-Za-z_][\w]*$/, message: t('templates.varName') }]}>
                        <Input placeholder={t('templates.varName')} data-testid={`var-name-${f.name}`} />
                      </Form.Item>
                      <Form.Item name={[f.name, 'default']}>
                        <Input placeholder={t('templates.default')} aria-label={t('templates.default')} />
                      </Form.Item>
                      <Form.Item name={[f.name, 'sample']}>
                        <Input placeholder={t('templates.sample')} data-testid={`var-sample-${f.name}`} />
                      </Form.Item>
                      <Form.Item name={[f.name, 'required']} valuePropName="checked">
                        <Checkbox>{t('templates.required')}</Checkbox>
                      </Form.Item>
                      <Button onClick={() => remove(f.name)}>{t('common.remove')}</Button>
                    </Space>
                  ))}
                  <Button onClick={() => add({ required: false })} data-testid="var-add">
                    {t('templates.addVariable')}
                  </Button>
                </>
              )}
            </Form.List>
            {error && <p role="alert">{error}</p>}
          </Form>
        </Col>
        <Col xs={24} md={10}>
          <PhonePreview content={content} vars={vars} />
        </Col>
      </Row>
    </Modal>
  );
}

function FileField({ value, onChange, onName }: { value?: string; onChange?: (v: string) => void; onName: (n: string) => void }) {
  const { t } = useTranslation();
  const [busy, setBusy] = useState(false);
  return (
    <Space>
      <input
        type="file"
        aria-label={t('templates.upload')}
        onChange={async (e) => {
          const file = e.target.files?.[0];
          if (!file) return;
          setBusy(true);
          try {
            const saved = await uploadFile(file, 'media');
            onChange?.(saved.id);
            onName(saved.file_name);
          } finally {
            setBusy(false);
          }
        }}
      />
      {busy ? t('common.loading') : value}
    </Space>
  );
}
