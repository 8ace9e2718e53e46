import type { RouteConfig } from '@asteasolutions/zod-to-openapi';
import type { AnyZodObject, ZodTypeAny } from 'zod';
import { ErrorBody, registry } from '../openapi';

/**
 * Registers one route in the OpenAPI document with the same zod schemas the handler validates with.
 * Paths use OpenAPI's `{id}` form; `permission` is stated in the description so readers see the guard.
 */
export function documentRoute(spec: {
  method: RouteConfig['method'];
  path: string;
  tag: string;
  summary: string;
  permission?: string;
  public?: boolean;
  body?: ZodTypeAny;
  query?: AnyZodObject;
  params?: AnyZodObject;
  response?: ZodTypeAny;
  status?: number;
  errors?: number[];
}): void {
  const status = spec.status ?? (spec.response ? 200 : 204);
  const errorStatuses = spec.errors ?? [400, 401, 403, 404];
  const errorResponses = Object.fromEntries(
    errorStatuses.map((s) => [s, { description: 'Error', content: { 'application/json': { schema: ErrorBody } } }]),
  );
  registry.registerPath({
    method: spec.method,
    path: spec.path,
    tags: [spec.tag],
    summary: spec.summary,
    description: spec.permission ? `Requires permission \`${spec.permission}\`.` : undefined,
    security: spec.public ? [] : undefined,
    request: {
      body: spec.body ? { content: { 'application/json': { schema: spec.body } }, required: true } : undefined,
      query: spec.query,
      params: spec.params,
    },
    responses: {
      [status]: spec.response
        ? { description: 'Success', content: { 'application/json': { schema: spec.response } } }
        : { description: 'No content' },
      ...errorResponses,
    },
  });
}
