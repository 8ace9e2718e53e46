import { consoleDir } from '../api/console-static';
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

/** The web console's URL when it is built (the api role serves it at /console); printed first, it is where a person starts. */
export function consoleUrl(config: Config): string | undefined {
  return consoleDir() ? `${config.http.publicUrl.replace(/\/$/, '')}/console/` : undefined;
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
