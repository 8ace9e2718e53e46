/**
 * Masked hints of secrets, for the API and the console: enough to recognise which token is configured,
 * never enough to use it.
 */
export function maskSecret(value: string): string {
  const v = value.trim();
  if (v.length <= 8) return '•'.repeat(Math.min(8, Math.max(4, v.length)));
  const tail = v.slice(-4);
  // Provider tokens carry a readable prefix (`puppet_workpro_…`): keep it up to its last underscore.
  const cut = v.lastIndexOf('_');
  const head = cut > 0 && cut <= 24 && cut < v.length - 8 ? v.slice(0, cut + 1) : v.slice(0, 2);
  return `${head}…${tail}`;
}

/** Host part of an endpoint, port and path dropped (`grpc.example.com:443` → `grpc.example.com:…`). */
export function maskEndpoint(endpoint: string): string {
  const host = endpoint.replace(/^[a-z]+:\/\//i, '').split(/[:/]/)[0];
  return host ? `${host}:…` : '…';
}
