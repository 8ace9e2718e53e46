/**
 * Token bucket per instance: `perMinute` sends a minute refilled continuously, bursts up to `burst`.
 * O(1) memory per instance; `take` answers how long to wait when empty.
 */
export interface Bucket {
  tokens: number;
  at: number;
}

export function takeToken(bucket: Bucket, perMinute: number, burst: number, now: number): { ok: true } | { ok: false; retryAfterMs: number } {
  if (perMinute <= 0) return { ok: true };
  const ratePerMs = perMinute / 60_000;
  const cap = Math.max(1, burst);
  bucket.tokens = Math.min(cap, bucket.tokens + (now - bucket.at) * ratePerMs);
  bucket.at = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return { ok: true };
  }
  return { ok: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / ratePerMs) };
}
