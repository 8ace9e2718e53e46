import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertSafeKey, ObjectNotFoundError, type FileStorage, type ObjectInfo } from './types';

/**
 * Files in a local directory (the embedded default when MinIO is not configured). Writes go to a
 * temporary name and are renamed into place, so a failed upload never leaves a partial object.
 */
export class LocalFileStorage implements FileStorage {
  readonly driver = 'local' as const;
  private readonly root: string;

  constructor(dir: string) {
    this.root = path.resolve(dir);
  }

  private pathOf(key: string): string {
    assertSafeKey(key);
    return path.join(this.root, ...key.split('/'));
  }

  async put(key: string, body: Readable, _opts: { contentType: string; size?: number }): Promise<void> {
    const target = this.pathOf(key);
    await mkdir(path.dirname(target), { recursive: true });
    const temp = path.join(path.dirname(target), `.upload-${randomBytes(6).toString('hex')}`);
    try {
      await pipeline(body, createWriteStream(temp));
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  async get(key: string): Promise<Readable> {
    const p = this.pathOf(key);
    if (!(await this.stat(key))) throw new ObjectNotFoundError(key);
    return createReadStream(p);
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const s = await stat(this.pathOf(key));
      return s.isFile() ? { key, size: s.size, lastModified: s.mtime } : null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const base = prefix.replace(/\/$/, '');
    const start = base ? this.pathOf(base) : this.root;
    yield* this.walk(start);
  }

  private async *walk(dir: string): AsyncIterable<ObjectInfo> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) yield* this.walk(full);
      else if (e.isFile() && !e.name.startsWith('.upload-')) {
        const s = await stat(full);
        yield { key: path.relative(this.root, full).split(path.sep).join('/'), size: s.size, lastModified: s.mtime };
      }
    }
  }
}
