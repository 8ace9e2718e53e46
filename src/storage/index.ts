import type { Config } from '../config';
import { LocalFileStorage } from './local';
import { MinioFileStorage } from './minio';
import type { FileStorage } from './types';

export * from './types';

/** MinIO when MINIO_ENDPOINT is set, otherwise the local directory FILES_DIR (embedded default). */
export function createFileStorage(config: Config): FileStorage {
  if (config.minio) return new MinioFileStorage(config.minio);
  return new LocalFileStorage(config.files.dir);
}
