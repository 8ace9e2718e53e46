import type { Config } from '../config';

/** What `npm start` prints once the demo data is ready: who can log in, and where. */
export interface BannerInput {
  tenantCode: string;
  username: string;
  /** The demo admin's password; undefined when an earlier seed set it (it is not stored in clear). */
  password: string | undefined;
  platformAdminUsername: string;
  publicUrl: string;
  /** The web console's URL, when the API serves one (see consoleUrl). */
  consoleUrl?: string;
}

/**
 * Hook for the web console (issue 11): return `${publicUrl}/console` here once the API serves it, and
 * the banner prints it first (it is where a person starts).
 */
export function consoleUrl(_config: Config): string | undefined {
  return undefined;
}

export function startBanner(b: BannerInput): string {
  return [
    '[seed] demo data ready',
    ...(b.consoleUrl ? [`  console: ${b.consoleUrl}`] : []),
    `  tenant_code: ${b.tenantCode}   username: ${b.username}   password: ${b.password ?? '(unchanged from first seed)'}`,
    `  platform admin: ${b.platformAdminUsername} / (PLATFORM_ADMIN_PASSWORD, default platform-admin-pass)`,
    `  API: ${b.publicUrl}   docs: ${b.publicUrl}/docs`,
    `  walk-through (in another terminal, once the API listens): BASE_URL=${b.publicUrl} npm run demo:tour`,
  ].join('\n');
}
