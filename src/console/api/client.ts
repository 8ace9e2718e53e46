import createClient from 'openapi-fetch';
import { currentToken, refreshSession } from '../session';
import type { paths } from './schema';

/**
 * Typed client of the service's own API: paths, parameters and bodies come from the generated
 * schema.d.ts (scripts/gen-console-api.ts), so an API change that breaks the console breaks its build.
 * A 401 refreshes the session once and repeats the request.
 */
async function authedFetch(request: Request): Promise<Response> {
  const retry = request.clone();
  const send = (r: Request) => {
    const token = currentToken();
    if (token) r.headers.set('authorization', `Bearer ${token}`);
    return fetch(r);
  };
  const res = await send(request);
  if (res.status !== 401) return res;
  return (await refreshSession()) ? send(retry) : res;
}

export const api = createClient<paths>({ baseUrl: '', fetch: authedFetch });

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** The data of an openapi-fetch answer, or an ApiError with the API's code and message. */
export function unwrap<T>(r: { data?: T; error?: unknown; response: Response }): T {
  if (r.error !== undefined || !r.response.ok) {
    const e = (r.error as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
    throw new ApiError(r.response.status, e?.code ?? 'error', e?.message ?? r.response.statusText, e?.details);
  }
  return r.data as T;
}

/** Binary answers (the QR PNG) through the same authentication. */
export async function fetchBlob(path: string): Promise<Blob> {
  const res = await authedFetch(new Request(path));
  if (!res.ok) throw new ApiError(res.status, 'error', res.statusText);
  return res.blob();
}

/** Multipart upload through the same authentication (openapi-fetch sends JSON). */
export async function uploadFile(file: File, purpose: 'media' | 'import'): Promise<{ id: string; file_name: string }> {
  const form = new FormData();
  form.append('file', file, file.name);
  const res = await authedFetch(new Request(`/api/v1/files?purpose=${purpose}`, { method: 'POST', body: form }));
  const json = (await res.json()) as { id: string; file_name: string; error?: { code: string; message: string } };
  if (!res.ok) throw new ApiError(res.status, json.error?.code ?? 'error', json.error?.message ?? res.statusText);
  return json;
}
