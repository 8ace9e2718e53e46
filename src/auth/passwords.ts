import argon2 from 'argon2';
import type { Config } from '../config';

/** argon2id with the salt embedded in the hash string; runs on libuv's thread pool, not the event loop. */
export function hashPassword(auth: Config['auth'], password: string): Promise<string> {
  return argon2.hash(password, {
    type: argon2.argon2id,
    memoryCost: auth.hashMemoryKib,
    timeCost: auth.hashTimeCost,
    parallelism: 1,
  });
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}
