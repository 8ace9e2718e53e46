import type { Readable } from 'node:stream';
import { GatewayError } from './errors';

/**
 * Reads a stored file into memory for a channel that needs the bytes (an upload, a FileBox), refusing
 * one larger than `max` as it streams in, so an oversized file never sits whole in memory.
 */
export async function readAtMost(stream: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > max) {
      stream.destroy();
      throw new GatewayError('permanent', 'file_too_large', `file exceeds ${max} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
