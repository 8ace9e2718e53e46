/**
 * One error family for API, workers and cron. The central HTTP handler renders any AppError as
 * `{ error: { code, message, details } }` with its status; anything else becomes a 500 internal_error.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export interface FieldIssue {
  field: string;
  message: string;
  code?: string;
}

export class ValidationError extends AppError {
  constructor(issues: FieldIssue[], message = 'request validation failed') {
    super(400, 'validation_error', message, { fields: issues });
  }
}

export class UnprocessableError extends AppError {
  constructor(code: string, message: string, details?: unknown) {
    super(422, code, message, details);
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'authentication required', code = 'unauthorized') {
    super(401, code, message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'permission denied', code = 'forbidden', details?: unknown) {
    super(403, code, message, details);
  }
}

export class NotFoundError extends AppError {
  constructor(resource: string, id?: string) {
    super(404, 'not_found', id ? `${resource} ${id} not found` : `${resource} not found`, { resource, id });
  }
}

export class ConflictError extends AppError {
  constructor(message: string, code = 'conflict', details?: unknown) {
    super(409, code, message, details);
  }
}

/** An illegal state-machine step; details carry the current state so clients can recover. */
export class InvalidTransitionError extends ConflictError {
  constructor(entity: string, from: string, to: string) {
    super(`${entity} cannot go from ${from} to ${to}`, 'invalid_state_transition', { current_state: from, requested: to });
  }
}

export class QuotaExceededError extends AppError {
  constructor(quota: string, limit: number) {
    super(403, 'quota_exceeded', `tenant quota ${quota} (${limit}) reached`, { quota, limit });
  }
}

export class TooManyRequestsError extends AppError {
  constructor(retryAfterSeconds: number) {
    super(429, 'rate_limited', 'too many requests', { retry_after_seconds: retryAfterSeconds });
  }
}
