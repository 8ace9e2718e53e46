import 'dotenv/config';
import { hashPassword } from '../src/auth/passwords';
import { loadConfig } from '../src/config';
import { consoleUrl, startBanner } from '../src/demo/banner';
import { createKnex } from '../src/db/knex';
import { assignRole } from '../src/db/roles';
import { insertTenant } from '../src/db/tenants';
import { insertUser } from '../src/db/users';

/**
 * Demo data for `npm start`: tenant `demo` with an admin operator. Idempotent: an existing demo tenant
 * is left as it is. Credentials can be overridden with DEMO_ADMIN_PASSWORD.
 */
export const DEMO = {
  tenantCode: 'demo',
  username: 'admin',
  password: process.env.DEMO_ADMIN_PASSWORD ?? 'demo-admin-pass',
};

async function main(): Promise<void> {
  const config = loadConfig();
  const db = createKnex(config.db, { poolMax: 2 });
  try {
    const existing = await db('tenants').where({ tenant_code: DEMO.tenantCode }).first();
    if (!existing) {
      const passwordHash = await hashPassword(config.auth, DEMO.password);
      await db.transaction(async (trx) => {
        const { id: tenantId, roleIds } = await insertTenant(trx, {
          tenantCode: DEMO.tenantCode,
          tenantName: 'Demo Tenant',
          maxAccounts: 20,
          maxDailyMessages: 100000,
        });
        const userId = await insertUser(trx, { tenantId, username: DEMO.username, email: 'admin@demo.local', passwordHash, realName: 'Demo Admin' });
        await assignRole(trx, userId, roleIds.admin, userId);
      });
    }
    console.log(
      startBanner({
        tenantCode: DEMO.tenantCode,
        username: DEMO.username,
        password: existing ? undefined : DEMO.password,
        platformAdminUsername: config.auth.platformAdmin.username,
        publicUrl: config.http.publicUrl,
        consoleUrl: consoleUrl(config),
      }),
    );
  } finally {
    await db.destroy();
  }
}

main().catch((err) => {
  console.error(`[seed] ${err.message}`);
  process.exit(1);
});
