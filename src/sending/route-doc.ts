import type { RouteConfig } from '@asteasolutions/zod-to-openapi';
import type { AnyZodObject, ZodTypeAny } from 'zod';
import { ErrorBody, registry } from '../api/openapi';

/** Registers one route of the templates / tasks / messages API with the zod schemas its handler validates with. */
export function doc(spec: {
  method: RouteConfig['method'];
  path: string;
  tag: string;
  summary: string;
  permission: string;
  body?: ZodTypeAny;
  query?: AnyZodObject;
  params?: AnyZodObject;
  response?: ZodTypeAny;
  status?: number;
  errors?: number[];
}): void {
  const status = spec.status ?? (spec.response ? 200 : 204);
  registry.registerPath({
    method: spec.method,
    path: spec.path,
    tags: [spec.tag],
    summary: spec.summary,
    description: `Requires permission \`${spec.permission}\`.`,
    request: {
      body: spec.body ? { content: { 'application/json': { schema: spec.body } }, required: true } : undefined,
      query: spec.query,
      params: spec.params,
    },
    responses: {
      [status]: spec.response
        ? { description: 'Success', content: { 'application/json': { schema: spec.response } } }
        : { description: 'No content' },
      ...Object.fromEntries(
        (spec.errors ?? [400, 401, 403, 404]).map((s) => [s, { description: 'Error', content: { 'application/json': { schema: ErrorBody } } }]),
      ),
    },
  });
}

/** Booleans in query strings. */
export const queryBool = (z: typeof import('zod').z) => z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
