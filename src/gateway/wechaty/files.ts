import type { Knex } from 'knex';
import type { AppContext } from '../../context';
import { downloadLink } from '../../storage/download-links';
import type { FileStorage } from '../../storage/types';
import { GatewayError } from '../errors';
import { readAtMost } from '../read-at-most';
import { clientModules } from './puppet-client';
import type { FileResolver } from './sender';

/** Largest file the gateway hands to a provider (WeCom's own limit for files is 20 MB). */
export const MAX_FILE_BYTES = 20 * 1024 * 1024;
/** Files up to this size travel inside the send request (gRPC's default message limit is 4 MiB). */
export const INLINE_MAX_BYTES = 1024 * 1024;
/** How long a provider may take to fetch a larger file from the platform's storage. */
const URL_TTL_SECONDS = 3600;

/**
 * Files of image/file messages as FileBoxes. A `file_id` is a platform file of the account's own tenant:
 * small ones are read from the platform's storage and sent inline (base64), larger ones as a signed
 * download link of the platform (PUBLIC_URL/files/download), which the provider must be able to reach. A `url` is handed over as a URL box.
 */
export function platformFileResolver(db: Knex, storage: FileStorage, links: Pick<AppContext, 'config'>): FileResolver {
  return async (guid, c) => {
    const { FileBox } = clientModules();
    if (c.file_id) {
      const row: { object_key: string; file_name: string; size_bytes: number } | undefined = await db('files as f')
        .join('wework_accounts as a', 'a.tenant_id', 'f.tenant_id')
        .where('a.guid', guid)
        .andWhere('f.id', c.file_id)
        .whereNull('f.deleted_at')
        .first('f.object_key', 'f.file_name', 'f.size_bytes');
      if (!row) throw new GatewayError('permanent', 'file_not_found', `file ${c.file_id} not found`);
      if (Number(row.size_bytes) > MAX_FILE_BYTES) throw new GatewayError('permanent', 'file_too_large', `file ${c.file_id} exceeds ${MAX_FILE_BYTES} bytes`);
      if (Number(row.size_bytes) > INLINE_MAX_BYTES) {
        const { url } = downloadLink(links, { object_key: row.object_key, file_name: c.file_name ?? row.file_name }, URL_TTL_SECONDS);
        return FileBox.fromUrl(url, { name: c.file_name ?? row.file_name });
      }
      const data = await readAtMost(await storage.get(row.object_key), MAX_FILE_BYTES);
      return FileBox.fromBase64(data.toString('base64'), c.file_name ?? row.file_name);
    }
    if (c.url) return FileBox.fromUrl(c.url, { name: c.file_name ?? (new URL(c.url).pathname.split('/').pop() || 'file') });
    throw new GatewayError('permanent', 'content_rejected', 'file_id or url is required');
  };
}
