import type { Knex } from 'knex';
import type Redis from 'ioredis';
import { redisKey } from '../../redis';
import type { FileStorage } from '../../storage/types';
import { GatewayError } from '../errors';
import { readAtMost } from '../read-at-most';
import type { OfficialAccount } from './credentials';
import type { WecomApi } from './wecom-api';

/** WeCom keeps temporary media three days; a cached media_id is reused for a little less. */
export const MEDIA_TTL_SECONDS = 3 * 24 * 3600 - 3600;
/** WeCom's size limits of temporary media (bytes). */
const MAX_BYTES = { image: 10 * 1024 * 1024, file: 20 * 1024 * 1024 } as const;

/**
 * Platform files as WeCom media ids: a file of the account's tenant is read from the platform's storage
 * and uploaded once (`media/upload`); its media_id is kept in Redis for every process and reused while
 * valid (under three days).
 */
export class OfficialMedia {
  constructor(
    private readonly db: Knex,
    private readonly storage: FileStorage,
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly api: WecomApi,
    private readonly beforeCall: (a: OfficialAccount) => Promise<void>,
  ) {}

  private key(a: OfficialAccount, kind: string, fileId: string): string {
    return redisKey(this.prefix, 'wecom', 'media', a.creds.corp_id, a.creds.agent_id, kind, fileId);
  }

  async mediaIdOf(a: OfficialAccount, kind: 'image' | 'file', c: { file_id?: string; url?: string; file_name?: string }): Promise<string> {
    if (!c.file_id) throw new GatewayError('permanent', 'unsupported_content', 'the official channel sends images and files from the platform storage (file_id), not from a URL');
    const key = this.key(a, kind, c.file_id);
    const cached = await this.redis.get(key);
    if (cached) return cached;
    const row: { object_key: string; file_name: string; content_type: string; size_bytes: number } | undefined = await this.db('files')
      .where({ tenant_id: a.tenantId, id: c.file_id })
      .whereNull('deleted_at')
      .first('object_key', 'file_name', 'content_type', 'size_bytes');
    if (!row) throw new GatewayError('permanent', 'file_not_found', `file ${c.file_id} not found`);
    if (Number(row.size_bytes) > MAX_BYTES[kind]) throw new GatewayError('permanent', 'file_too_large', `file ${c.file_id} exceeds WeCom's ${MAX_BYTES[kind]} bytes for ${kind}`);
    const data = await readAtMost(await this.storage.get(row.object_key), MAX_BYTES[kind]);
    const mediaId = await this.upload(a, kind, { fileName: c.file_name ?? row.file_name, contentType: row.content_type, data });
    await this.redis.set(key, mediaId, 'EX', MEDIA_TTL_SECONDS);
    return mediaId;
  }

  /** POST media/upload (multipart, field `media`). */
  async upload(a: OfficialAccount, kind: 'image' | 'file', m: { fileName: string; contentType: string; data: Buffer }): Promise<string> {
    await this.beforeCall(a);
    const form = new FormData();
    form.append('media', new Blob([m.data], { type: m.contentType || 'application/octet-stream' }), m.fileName);
    const ans = await this.api.call({ corpId: a.creds.corp_id, secret: a.creds.secret }, { method: 'POST', path: '/cgi-bin/media/upload', query: { type: kind }, form });
    if (typeof ans.media_id !== 'string') throw new GatewayError('retryable', 'wecom_bad_answer', 'media/upload answered without media_id');
    return ans.media_id;
  }
}
