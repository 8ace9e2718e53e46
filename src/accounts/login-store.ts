import type { AppContext } from '../context';
import type { LoginQr } from '../gateway/types';
import { redisKey } from '../redis';
import { accountPrefix } from '../redis-keyspace';

/**
 * Redis state of the current login attempt of an account: its id and deadline (so a stale poll chain
 * from an earlier attempt stops itself), and the current QR code PNG (TTL = the QR's expiry).
 */
const attemptKey = (ctx: AppContext, accountId: string) => redisKey(accountPrefix(ctx.config.redis, accountId), 'account-login', accountId);
const qrKey = (ctx: AppContext, accountId: string) => redisKey(accountPrefix(ctx.config.redis, accountId), 'account-qr', accountId);

export interface LoginAttempt {
  id: string;
  deadline: number;
}

export async function saveAttempt(ctx: AppContext, accountId: string, attempt: LoginAttempt): Promise<void> {
  const ttlMs = Math.max(1000, attempt.deadline - Date.now() + 60_000);
  await ctx.redis.set(attemptKey(ctx, accountId), JSON.stringify(attempt), 'PX', ttlMs);
}

export async function currentAttempt(ctx: AppContext, accountId: string): Promise<LoginAttempt | undefined> {
  const raw = await ctx.redis.get(attemptKey(ctx, accountId));
  return raw ? (JSON.parse(raw) as LoginAttempt) : undefined;
}

export async function clearLoginState(ctx: AppContext, accountId: string): Promise<void> {
  await ctx.redis.del(attemptKey(ctx, accountId), qrKey(ctx, accountId));
}

export async function saveQr(ctx: AppContext, accountId: string, qr: LoginQr): Promise<void> {
  const ttlMs = qr.expiresAt.getTime() - Date.now();
  if (ttlMs <= 0) return;
  const value = JSON.stringify({ png: qr.qrPngBase64, expires_at: qr.expiresAt.toISOString() });
  await ctx.redis.set(qrKey(ctx, accountId), value, 'PX', ttlMs);
}

export async function loadQr(ctx: AppContext, accountId: string): Promise<{ png: Buffer; expiresAt: string } | undefined> {
  const raw = await ctx.redis.get(qrKey(ctx, accountId));
  if (!raw) return undefined;
  const v = JSON.parse(raw) as { png: string; expires_at: string };
  return { png: Buffer.from(v.png, 'base64'), expiresAt: v.expires_at };
}

export async function dropQr(ctx: AppContext, accountId: string): Promise<void> {
  await ctx.redis.del(qrKey(ctx, accountId));
}
