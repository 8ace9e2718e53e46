import type { Request } from 'express';
import type { z, ZodTypeAny } from 'zod';
import { ValidationError, type FieldIssue } from '../errors';

function toIssues(where: string, error: z.ZodError): FieldIssue[] {
  return error.issues.map((i) => ({
    field: [where, ...i.path].join('.'),
    message: i.message,
    code: i.code,
  }));
}

/** Parses one part of the request with its schema; a failure names every bad field (e.g. `body.name`). */
export function parse<S extends ZodTypeAny>(schema: S, value: unknown, where: 'body' | 'query' | 'params'): z.infer<S> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw new ValidationError(toIssues(where, result.error));
  return result.data;
}

export const body = <S extends ZodTypeAny>(req: Request, schema: S): z.infer<S> => parse(schema, req.body, 'body');
export const query = <S extends ZodTypeAny>(req: Request, schema: S): z.infer<S> => parse(schema, req.query, 'query');
export const params = <S extends ZodTypeAny>(req: Request, schema: S): z.infer<S> => parse(schema, req.params, 'params');
