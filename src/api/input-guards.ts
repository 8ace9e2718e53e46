import { isIP } from 'node:net';
import express, { type RequestHandler } from 'express';
import { AppError, ValidationError, type FieldIssue } from '../errors';

/**
 * Checks every request body and query before any route sees them, so no field of any route can carry
 * what the rest of the stack cannot handle:
 * - nesting deeper than MAX_DEPTH (recursive code further on — renderers, JSON.stringify, zod — would
 *   overflow the stack and answer 500);
 * - lone UTF-16 surrogates (`"\ud800"`) in any string or key: MySQL's utf8mb4 and `json_valid` refuse them,
 *   so they would fail the insert half-way instead of the request.
 * The walk is iterative and stops at the first few problems, each named by its path (`body.targets.3.name`).
 */
export const MAX_DEPTH = 32;
const MAX_ISSUES = 10;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `s` is valid Unicode text (no unpaired surrogate); `String#isWellFormed` is not in our lib target. */
export const isWellFormedText = (s: string): boolean => !LONE_SURROGATE.test(s);

/** A node of the walk; its path (`body.targets.3`) is only spelled out for a problem (every request is walked). */
interface Node {
  value: unknown;
  key: string;
  parent: Node | null;
  depth: number;
}
const pathOf = (n: Node): string => (n.parent ? `${pathOf(n.parent)}.${n.key}` : n.key);

export function inputProblems(value: unknown, where: string): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const stack: Node[] = [{ value, key: where, parent: null, depth: 0 }];
  while (stack.length && issues.length < MAX_ISSUES) {
    const node = stack.pop()!;
    const v = node.value;
    if (typeof v === 'string') {
      if (!isWellFormedText(v)) issues.push({ field: pathOf(node), code: 'invalid_string', message: 'contains a lone UTF-16 surrogate (not valid Unicode text)' });
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (node.depth >= MAX_DEPTH) {
      issues.push({ field: pathOf(node), code: 'too_deep', message: `nested deeper than ${MAX_DEPTH} levels` });
      continue;
    }
    for (const key of Object.keys(v)) {
      if (!isWellFormedText(key)) {
        issues.push({ field: `${pathOf(node)}.${key.replace(new RegExp(LONE_SURROGATE.source, 'g'), '\uFFFD')}`, code: 'invalid_string', message: 'key contains a lone UTF-16 surrogate' });
        continue;
      }
      stack.push({ value: (v as Record<string, unknown>)[key], key, parent: node, depth: node.depth + 1 });
    }
  }
  return issues;
}

/** 400 naming each bad field, before any handler runs. */
export const guardInput: RequestHandler = (req, _res, next) => {
  const issues = [...inputProblems(req.body, 'body'), ...inputProblems(req.query, 'query')];
  next(issues.length ? new ValidationError(issues) : undefined);
};

/** The JSON body parser every route uses, followed by the guard. */
export function jsonBody(limit: string): RequestHandler {
  const parseJson = express.json({ limit });
  return (req, res, next) => parseJson(req, res, (err?: unknown) => (err ? next(err) : guardInput(req, res, next)));
}

/**
 * The client address comes from X-Forwarded-For when the peer is a trusted proxy; a value that is not
 * an IP address (a forged or garbled header) is refused rather than written to the audit log.
 */
export const requireValidClientIp: RequestHandler = (req, _res, next) => {
  const ip = req.ip;
  if (ip === undefined || isIP(ip)) return next();
  next(new ValidationError([{ field: 'headers.x-forwarded-for', code: 'invalid_ip', message: 'must be a list of IP addresses' }], 'invalid X-Forwarded-For header'));
};

/**
 * Body-parser errors (http-errors with `expose`) become clean 4xx with a machine-readable code and the
 * header or part at fault; only what we do not recognise stays a 500.
 */
export function fromBodyParser(err: unknown): AppError | undefined {
  const e = err as { type?: string; status?: number; expose?: boolean; message?: string; charset?: string; encoding?: string };
  switch (e?.type) {
    case 'entity.too.large':
      return new AppError(413, 'payload_too_large', 'request body too large', { field: 'body' });
    case 'entity.parse.failed':
      return new AppError(400, 'invalid_json', 'request body is not valid JSON', { field: 'body' });
    case 'charset.unsupported':
      return new AppError(415, 'unsupported_charset', `unsupported charset "${String(e.charset ?? '').slice(0, 40)}"; send UTF-8`, { field: 'headers.content-type' });
    case 'encoding.unsupported':
      return new AppError(415, 'unsupported_content_encoding', `unsupported content encoding "${String(e.encoding ?? '').slice(0, 40)}"`, {
        field: 'headers.content-encoding',
      });
    case 'request.aborted':
      return new AppError(400, 'request_aborted', 'the request body was cut short', { field: 'body' });
    case 'request.size.invalid':
      return new AppError(400, 'invalid_content_length', 'the body length does not match Content-Length', { field: 'headers.content-length' });
  }
  if (e?.expose && typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    return new AppError(e.status, (e.type ?? 'bad_request').replace(/\W+/g, '_'), e.message ?? 'bad request', { field: 'body' });
  }
  return undefined;
}
