import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Constant-time check of `Authorization: Bearer <token>` against a configured token (for machine
 * endpoints such as /metrics and the simulator's control API). Hashing first makes lengths equal.
 */
export function bearerMatches(header: string | undefined, expected: string): boolean {
  const given = header?.startsWith('Bearer ') ? header.slice(7).trim() : '';
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return given.length > 0 && timingSafeEqual(digest(given), digest(expected));
}
