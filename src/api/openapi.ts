import { OpenAPIRegistry, OpenApiGeneratorV3, extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

extendZodWithOpenApi(z);

/**
 * Routers describe their routes here with the same zod schemas they validate with, so the OpenAPI
 * document can never drift from what the API accepts. Registration happens at module load.
 */
export const registry = new OpenAPIRegistry();

registry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT or API key' });

export const ErrorBody = registry.register(
  'Error',
  z.object({
    error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
  }),
);

let cached: unknown;
export function openApiDocument(): unknown {
  cached ??= new OpenApiGeneratorV3(registry.definitions).generateDocument({
    openapi: '3.0.3',
    info: { title: 'wework-platform API', version: '1.0.0', description: 'Multi-tenant WeCom fleet and bulk messaging' },
    security: [{ bearer: [] }],
  });
  return cached;
}
