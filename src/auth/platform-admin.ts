import type { Config } from '../config';
import { signAccessToken } from './access-tokens';
import { safeEqual, sha256Hex } from './secrets';

/**
 * The platform admin is bootstrapped from config, not stored. Both values are compared as SHA-256
 * digests (equal length) with a constant-time compare, so timing reveals neither length nor prefix.
 */
export function checkPlatformAdmin(auth: Config['auth'], username: string, password: string): boolean {
  const userOk = safeEqual(sha256Hex(username), sha256Hex(auth.platformAdmin.username));
  const passOk = safeEqual(sha256Hex(password), sha256Hex(auth.platformAdmin.password));
  return userOk && passOk;
}

export function platformAccessToken(auth: Config['auth']): string {
  return signAccessToken(auth, { sub: auth.platformAdmin.username, kind: 'platform' });
}
