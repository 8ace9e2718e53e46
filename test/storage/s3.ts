import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
// s3rver ships no types; it is a real S3 protocol server run in-process on a random port.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const S3rver = require('s3rver');

export interface S3Peer {
  port: number;
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startS3(): Promise<S3Peer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'wwp-s3-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', directory: dir, silent: true });
  const addr = (await server.run()) as { port: number };
  return {
    port: addr.port,
    env: {
      MINIO_ENDPOINT: '127.0.0.1',
      MINIO_PORT: String(addr.port),
      MINIO_USE_SSL: 'false',
      MINIO_ACCESS_KEY: 'S3RVER',
      MINIO_SECRET_KEY: 'S3RVER',
      MINIO_BUCKET: `wwp-test-${Math.random().toString(36).slice(2, 8)}`,
    },
    async stop() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
