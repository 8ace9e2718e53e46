import type { Knex } from 'knex';
import { newId } from './ids';

export interface NewUser {
  tenantId: string;
  username: string;
  email: string;
  passwordHash: string;
  realName?: string | null;
  phone?: string | null;
}

export async function insertUser(db: Knex | Knex.Transaction, u: NewUser): Promise<string> {
  const id = newId();
  await db('users').insert({
    id,
    tenant_id: u.tenantId,
    username: u.username,
    email: u.email,
    password_hash: u.passwordHash,
    real_name: u.realName ?? null,
    phone: u.phone ?? null,
  });
  return id;
}
