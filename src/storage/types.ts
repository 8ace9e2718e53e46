import type { Readable } from 'node:stream';

/** What the storage backend knows about one object. */
export interface ObjectInfo {
  key: string;
  size: number;
  lastModified: Date;
}

/**
 * Object storage for tenant files. Keys are opaque to the drivers; callers build them with
 * `tenantObjectKey` so every tenant's objects sit under `tenants/<tenantId>/`.
 */
export interface FileStorage {
  readonly driver: 'minio' | 'local';
  /** Stores the stream under `key` (replacing any object there). Rejects if the stream errors; nothing partial stays visible. */
  put(key: string, body: Readable, opts: { contentType: string; size?: number }): Promise<void>;
  /** Streams the object; rejects with ObjectNotFoundError when absent. */
  get(key: string): Promise<Readable>;
  /** The object's size and time, or null when absent. */
  stat(key: string): Promise<ObjectInfo | null>;
  /** Removes the object; absent objects are not an error. */
  delete(key: string): Promise<void>;
  /** Every object under `prefix` (for orphan cleanup). */
  list(prefix: string): AsyncIterable<ObjectInfo>;
}

export class ObjectNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`object ${key} not found`);
    this.name = 'ObjectNotFoundError';
  }
}

export const FILE_PURPOSES = ['media', 'import', 'qr', 'report'] as const;
export type FilePurpose = (typeof FILE_PURPOSES)[number];

export function tenantPrefix(tenantId: string): string {
  return `tenants/${tenantId}/`;
}

export function tenantObjectKey(tenantId: string, purpose: FilePurpose, fileId: string): string {
  return `${tenantPrefix(tenantId)}${purpose}/${fileId}`;
}

/** Keys are built by us, but the local driver maps them to paths, so refuse anything that could escape. */
export function assertSafeKey(key: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._\-/]{0,499}$/.test(key) || key.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new Error(`unsafe object key ${JSON.stringify(key)}`);
  }
}
