import { Client } from 'minio';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { Config } from '../config';
import { assertSafeKey, ObjectNotFoundError, type FileStorage, type ObjectInfo } from './types';

type MinioConfig = NonNullable<Config['minio']>;

function isNotFound(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'NotFound' || code === 'NoSuchKey' || code === 'NoSuchObject';
}

/**
 * Objects in one MinIO (S3) bucket, created on first use. Multi-part uploads of unknown length are
 * handled by the client; a failed upload leaves no object behind (S3 only shows completed uploads).
 */
export class MinioFileStorage implements FileStorage {
  readonly driver = 'minio' as const;
  readonly client: Client;
  private readonly bucket: string;
  private ready: Promise<void> | undefined;

  constructor(config: MinioConfig) {
    this.client = new Client({
      endPoint: config.endPoint,
      port: config.port,
      useSSL: config.useSSL,
      accessKey: config.accessKey,
      secretKey: config.secretKey,
      pathStyle: true,
    });
    this.bucket = config.bucket;
  }

  /** Creates the bucket if missing; memoised, retried after a failure. */
  ensureBucket(): Promise<void> {
    this.ready ??= (async () => {
      if (!(await this.client.bucketExists(this.bucket))) {
        try {
          await this.client.makeBucket(this.bucket);
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw err;
        }
      }
    })().catch((err) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  /**
   * A stream of unknown length is spooled to a temporary file first, so the object is sent with its
   * length in one request: memory stays flat, an upload that fails half-way (size limit, client gone)
   * never reaches the bucket, and no multipart upload is left behind.
   */
  async put(key: string, body: Readable, opts: { contentType: string; size?: number }): Promise<void> {
    assertSafeKey(key);
    await this.ensureBucket();
    const meta = { 'Content-Type': opts.contentType };
    if (opts.size !== undefined) {
      await this.client.putObject(this.bucket, key, body, opts.size, meta);
      return;
    }
    const dir = await mkdtemp(path.join(tmpdir(), 'wwp-upload-'));
    const spool = path.join(dir, 'body');
    try {
      await pipeline(body, createWriteStream(spool));
      const { size } = await stat(spool);
      await this.client.putObject(this.bucket, key, createReadStream(spool), size, meta);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async get(key: string): Promise<Readable> {
    assertSafeKey(key);
    await this.ensureBucket();
    try {
      return await this.client.getObject(this.bucket, key);
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(key);
      throw err;
    }
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    assertSafeKey(key);
    await this.ensureBucket();
    try {
      const s = await this.client.statObject(this.bucket, key);
      return { key, size: s.size, lastModified: s.lastModified };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    assertSafeKey(key);
    await this.ensureBucket();
    await this.client.removeObject(this.bucket, key);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    await this.ensureBucket();
    for await (const item of this.client.listObjectsV2(this.bucket, prefix, true)) {
      if (item.name) yield { key: item.name, size: item.size, lastModified: item.lastModified ?? new Date(0) };
    }
  }
}

/** RFC 6266 attachment header with an ASCII fallback and the UTF-8 name. */
export function contentDisposition(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}
