import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { parse as parseCsv } from 'csv-parse/sync';
import { cleanOrphanedFiles } from '../../src/cron/jobs/retention-cleanup';
import { newId } from '../../src/db/ids';
import { openTenantFile, saveTenantFile } from '../../src/storage/tenant-files';
import { signDownloadToken } from '../../src/storage/url-signing';
import { tenantObjectKey, tenantPrefix } from '../../src/storage/types';
import { createTenant, createTestEnv, createUserWithRole, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { startS3, type S3Peer } from './s3';

const MAX = 4096;

async function upload(env: TestEnv, token: string, body: Buffer, opts: { name?: string; type?: string; purpose?: string; field?: string } = {}) {
  const form = new FormData();
  form.append(opts.field ?? 'file', new Blob([body], { type: opts.type ?? 'image/png' }), opts.name ?? 'pic.png');
  const res = await fetch(`${env.url}/api/v1/files${opts.purpose ? `?purpose=${opts.purpose}` : ''}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function listKeys(env: TestEnv, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of env.ctx.storage.list(prefix)) keys.push(o.key);
  return keys;
}

describe.each(['local', 'minio'] as const)('files with the %s driver', (driver) => {
  let s3: S3Peer | undefined;
  let env: TestEnv;
  let a: TestTenant;
  let b: TestTenant;
  beforeAll(async () => {
    if (driver === 'minio') s3 = await startS3();
    env = await createTestEnv(`files${driver}`, { api: true, env: { MAX_UPLOAD_BYTES: String(MAX), ...(s3?.env ?? {}) } });
    expect(env.ctx.storage.driver).toBe(driver);
    // Presigned local URLs must point at this test server.
    (env.ctx.config as { http: { publicUrl: string } }).http.publicUrl = env.url;
    [a, b] = [await createTenant(env), await createTenant(env)];
  });
  afterAll(async () => {
    await env?.close();
    await s3?.stop();
  });

  test('upload streams into tenant storage with size and sha256; list, get, presigned download, delete', async () => {
    const own = await createTenant(env); // its file list holds only what this test uploads
    const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
    const up = await upload(env, own.adminToken, bytes, { name: '../../etc/产品图.png' });
    expect(up.status).toBe(201);
    expect(up.body).toMatchObject({ purpose: 'media', file_name: '产品图.png', content_type: 'image/png', size_bytes: 3000, created_by: own.adminId });
    expect(up.body.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    const id = up.body.id;

    const row = await env.ctx.db('files').where({ id }).first();
    expect(row.object_key).toBe(tenantObjectKey(own.tenantId, 'media', id));
    expect((await env.ctx.storage.stat(row.object_key))!.size).toBe(3000);

    const list = await http('GET', `${env.url}/api/v1/files`, { token: own.adminToken });
    expect(list.status).toBe(200);
    expect(list.body.data.map((f: { id: string }) => f.id)).toEqual([id]);
    expect((await http('GET', `${env.url}/api/v1/files/${id}`, { token: own.adminToken })).body.size_bytes).toBe(3000);

    const link = await http('GET', `${env.url}/api/v1/files/${id}/download-url?expires_in=120`, { token: own.adminToken });
    expect(link.status).toBe(200);
    const dl = await fetch(link.body.url);
    expect(dl.status).toBe(200);
    expect(Buffer.from(await dl.arrayBuffer()).equals(bytes)).toBe(true);
    expect(dl.headers.get('content-type')).toBe('image/png');

    const del = await http('DELETE', `${env.url}/api/v1/files/${id}`, { token: own.adminToken });
    expect(del.status).toBe(204);
    expect((await http('GET', `${env.url}/api/v1/files/${id}`, { token: own.adminToken })).status).toBe(404);
    expect(await env.ctx.storage.stat(row.object_key)).toBeNull();
    expect((await fetch(link.body.url)).status).toBe(404);
    const audit = await env.ctx.db('audit_logs').where({ target_id: id }).orderBy('id').pluck('action');
    expect(audit).toEqual(['file.upload', 'file.delete']);
  });

  test("another tenant's file answers 404 everywhere", async () => {
    const up = await upload(env, a.adminToken, Buffer.from('hello'), { type: 'text/plain', name: 'a.txt' });
    const id = up.body.id;
    for (const [method, path] of [
      ['GET', `/api/v1/files/${id}`],
      ['GET', `/api/v1/files/${id}/download-url`],
      ['DELETE', `/api/v1/files/${id}`],
    ] as const) {
      const res = await http(method, `${env.url}${path}`, { token: b.adminToken });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
    expect((await http('GET', `${env.url}/api/v1/files`, { token: b.adminToken })).body.data).toEqual([]);
    await expect(openTenantFile(env.ctx, b.tenantId, id)).rejects.toMatchObject({ status: 404 });
    expect(await text(await openTenantFile(env.ctx, a.tenantId, id))).toBe('hello');
  });

  test('size limit: one byte over answers 413 and stores nothing; exactly the limit is accepted', async () => {
    const t = await createTenant(env);
    const over = await upload(env, t.adminToken, Buffer.alloc(MAX + 1, 1));
    expect(over.status).toBe(413);
    expect(over.body.error).toMatchObject({ code: 'file_too_large', details: { max_bytes: MAX } });
    expect(await env.ctx.db('files').where({ tenant_id: t.tenantId }).count({ n: '*' })).toEqual([{ n: 0 }]);
    expect(await listKeys(env, tenantPrefix(t.tenantId))).toEqual([]);

    const far = await upload(env, t.adminToken, Buffer.alloc(MAX * 40, 1));
    expect(far.status).toBe(413);

    const exact = await upload(env, t.adminToken, Buffer.alloc(MAX, 2));
    expect(exact.status).toBe(201);
    expect(exact.body.size_bytes).toBe(MAX);
  });

  test('content types are checked per purpose; bad requests name the problem', async () => {
    const wrongType = await upload(env, a.adminToken, Buffer.from('x'), { purpose: 'import', type: 'image/png' });
    expect(wrongType.status).toBe(415);
    expect(wrongType.body.error).toMatchObject({ code: 'unsupported_media_type', details: { content_type: 'image/png' } });
    const csv = await upload(env, a.adminToken, Buffer.from('conversation_id\nc1\n'), { purpose: 'import', type: 'text/csv', name: 't.csv' });
    expect(csv.status).toBe(201);
    expect(csv.body.purpose).toBe('import');

    const systemPurpose = await upload(env, a.adminToken, Buffer.from('x'), { purpose: 'report' });
    expect(systemPurpose.status).toBe(400);
    expect(systemPurpose.body.error.details.fields[0].field).toBe('query.purpose');
    const notMultipart = await http('POST', `${env.url}/api/v1/files`, { token: a.adminToken, body: { file: 'x' } });
    expect(notMultipart.status).toBe(415);
    const noFilePart = await upload(env, a.adminToken, Buffer.from('x'), { field: 'other' });
    expect(noFilePart.status).toBe(400);
    expect(noFilePart.body.error.details.fields[0].field).toBe('body.file');

    const viewer = await createUserWithRole(env, a, 'viewer');
    expect((await upload(env, viewer.token, Buffer.from('x'))).status).toBe(403);
    expect((await http('GET', `${env.url}/api/v1/files?purpose=import`, { token: viewer.token })).body.data.map((f: { id: string }) => f.id)).toEqual([csv.body.id]);
  });

  test('download links stop working while the tenant is suspended, and again after it resumes', async () => {
    const t = await createTenant(env);
    const up = await upload(env, t.adminToken, Buffer.from('quarterly numbers'), { name: 'q.txt', type: 'text/plain' });
    expect(up.status).toBe(201);
    const link = await http('GET', `${env.url}/api/v1/files/${up.body.id}/download-url`, { token: t.adminToken });
    expect(link.body.url.startsWith(`${env.url}/files/download?token=`)).toBe(true);
    expect(await (await fetch(link.body.url)).text()).toBe('quarterly numbers');

    const { username, password } = env.config.auth.platformAdmin;
    const platform = (await http('POST', `${env.url}/api/v1/platform/login`, { body: { username, password } })).body.access_token;
    expect((await http('POST', `${env.url}/api/v1/platform/tenants/${t.tenantId}/suspend`, { token: platform })).status).toBe(200);
    const refused = await fetch(link.body.url);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as any).error.code).toBe('tenant_suspended');

    expect((await http('POST', `${env.url}/api/v1/platform/tenants/${t.tenantId}/resume`, { token: platform })).status).toBe(200);
    expect(await (await fetch(link.body.url)).text()).toBe('quarterly numbers');
  });

  test('task report: every message of the task as CSV in storage, downloadable; other tenants get 404', async () => {
    const taskId = newId();
    const accountId = newId();
    await env.ctx.db('batch_send_tasks').insert({
      id: taskId,
      tenant_id: a.tenantId,
      creator_id: a.adminId,
      task_name: 'Spring sale',
      account_id: accountId,
      message_content: JSON.stringify({ type: 'text', text: 'hi' }),
      target_type: 'manual',
      target_config: JSON.stringify({}),
      status: 'completed',
    });
    const messages = [
      { id: newId(), conversation_id: 'c-1', status: 'delivered', error_code: null, error_message: null, send_time: new Date('2026-11-20T10:00:01Z') },
      { id: newId(), conversation_id: 'c-2', status: 'failed', error_code: 'E42', error_message: 'blocked, "spam"\nsecond line', send_time: null },
      { id: newId(), conversation_id: '=cmd', status: 'sent', error_code: null, error_message: null, send_time: new Date('2026-11-20T10:00:03Z') },
    ];
    await env.ctx.db('messages').insert(
      messages.map((m) => ({ ...m, tenant_id: a.tenantId, account_id: accountId, batch_id: taskId, message_type: 'text', content: '{}', created_at: new Date('2026-11-20T10:00:00Z') })),
    );

    expect((await http('POST', `${env.url}/api/v1/tasks/${taskId}/report`, { token: b.adminToken })).status).toBe(404);
    const res = await http('POST', `${env.url}/api/v1/tasks/${taskId}/report`, { token: a.adminToken });
    expect(res.status).toBe(201);
    expect(res.body.file).toMatchObject({ purpose: 'report', content_type: 'text/csv' });
    const csv = await (await fetch(res.body.download_url)).text();
    const rows = parseCsv(csv, { columns: true }) as Array<Record<string, string>>;
    expect(rows.map((r) => [r.message_id, r.conversation_id, r.status, r.error_code, r.error_message, r.send_time])).toEqual([
      [messages[0].id, 'c-1', 'delivered', '', '', '2026-11-20T10:00:01.000Z'],
      [messages[1].id, 'c-2', 'failed', 'E42', 'blocked, "spam"\nsecond line', ''],
      [messages[2].id, "'=cmd", 'sent', '', '', '2026-11-20T10:00:03.000Z'],
    ]);
    expect(res.body.file.size_bytes).toBe(Buffer.byteLength(csv));
  });

  test('orphan cleanup removes objects without rows and purges deleted rows, keeping live files', async () => {
    const t = await createTenant(env);
    const live = await saveTenantFile(env.ctx, { tenantId: t.tenantId, purpose: 'qr', fileName: 'qr.png', contentType: 'image/png', body: Buffer.from('live') });
    const gone = await saveTenantFile(env.ctx, { tenantId: t.tenantId, purpose: 'media', fileName: 'x.png', contentType: 'image/png', body: Buffer.from('gone') });
    await env.ctx.db('files').where({ id: gone.id }).update({ deleted_at: new Date(Date.now() - 2 * 86_400_000) });
    const orphanKey = tenantObjectKey(t.tenantId, 'media', newId());
    await env.ctx.storage.put(orphanKey, Readable.from([Buffer.from('orphan')]), { contentType: 'image/png' });

    // Run "later" than the orphan grace period so the freshly written orphan counts as old.
    const later = new Date(Date.now() + (env.config.retention.orphanFileDays + 1) * 86_400_000);
    const res = await cleanOrphanedFiles(env.ctx, later);
    expect(res.purged_rows).toBeGreaterThanOrEqual(1);
    expect(res.orphan_objects).toBeGreaterThanOrEqual(1);
    expect((await listKeys(env, tenantPrefix(t.tenantId))).sort()).toEqual([live.object_key]);
    expect(await env.ctx.db('files').where({ tenant_id: t.tenantId }).pluck('id')).toEqual([live.id]);
  });
});

describe('local download links', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv('fileslinks', { api: true });
  });
  afterAll(() => env.close());

  test('tampered, expired and foreign-key tokens are refused', async () => {
    const t = await createTenant(env);
    const f = await saveTenantFile(env.ctx, { tenantId: t.tenantId, purpose: 'media', fileName: 'a.txt', contentType: 'text/plain', body: 'secret' });
    const secret = env.config.auth.jwtSecret;
    const good = signDownloadToken(secret, { k: f.object_key, e: Math.floor(Date.now() / 1000) + 60, ct: 'text/plain' });
    const ok = await http('GET', `${env.url}/files/download?token=${encodeURIComponent(good)}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toBe('secret');

    const [payload] = good.split('.');
    const otherKey = Buffer.from(JSON.stringify({ k: tenantObjectKey(newId(), 'media', f.id), e: Math.floor(Date.now() / 1000) + 60 })).toString('base64url');
    const tampered = `${otherKey}.${good.split('.')[1]}`;
    expect((await http('GET', `${env.url}/files/download?token=${encodeURIComponent(tampered)}`)).body.error.code).toBe('invalid_download_token');
    const forged = signDownloadToken('some-other-secret-entirely', { k: f.object_key, e: Math.floor(Date.now() / 1000) + 60 });
    expect((await http('GET', `${env.url}/files/download?token=${encodeURIComponent(forged)}`)).status).toBe(403);
    const expired = signDownloadToken(secret, { k: f.object_key, e: Math.floor(Date.now() / 1000) - 1 });
    const exp = await http('GET', `${env.url}/files/download?token=${encodeURIComponent(expired)}`);
    expect(exp.status).toBe(403);
    expect(exp.body.error.code).toBe('download_link_expired');
    expect((await http('GET', `${env.url}/files/download?token=${payload}`)).status).toBe(403);
  });
});
