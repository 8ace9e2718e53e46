import type { Router } from 'express';
import type { AppContext } from '../../context';
import { templatesRouter } from './templates';

/**
 * Resource routers mounted under /api/v1 behind authentication. Each is `(ctx) => Router` and guards
 * its own routes with `requirePermission`. Add new resources here, one line each.
 */
export const apiRouters: ReadonlyArray<(ctx: AppContext) => Router> = [
  templatesRouter,
];

/** Routers mounted at the root without authentication (login, webhooks); they authenticate themselves. */
export const publicRouters: ReadonlyArray<(ctx: AppContext) => Router> = [];
