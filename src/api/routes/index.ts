import type { Router } from 'express';
import type { AppContext } from '../../context';
import { accountsRouter } from './accounts';
import { apiKeysRouter } from './api-keys';
import { auditRouter } from './audit';
import { authPublicRouter, authRouter } from './auth';
import { platformRouter } from './platform';
import { rolesRouter } from './roles';
import { tenantRouter } from './tenant';
import { usersRouter } from './users';
import { cronRouter } from './cron';
import { fileDownloadRouter, filesRouter } from './files';
import { reportsRouter } from './reports';
import { taskReportsRouter } from './task-reports';
import { templatesRouter } from './templates';
import { tasksRouter } from './tasks';
import { taskRecipientsRouter } from './task-recipients';
import { taskControlsRouter } from './task-controls';
import { accountLimitsRouter } from './account-limits';
import { dashboardRouter } from './dashboard';
import { messagesRouter } from './messages';
import { callbackEventsRouter, gatewayCallbackRouter } from './callbacks';
import { wecomCallbackRouter, wecomConfigRouter } from './wecom-callbacks';
import { webhooksRouter } from './webhooks';

/**
 * Resource routers mounted under /api/v1 behind authentication. Each is `(ctx) => Router` and guards
 * its own routes with `requirePermission`. Add new resources here, one line each.
 */
export const apiRouters: ReadonlyArray<(ctx: AppContext) => Router> = [
  accountsRouter,
  accountLimitsRouter,
  authRouter,
  platformRouter,
  tenantRouter,
  usersRouter,
  rolesRouter,
  apiKeysRouter,
  auditRouter,
  cronRouter,
  filesRouter,
  reportsRouter,
  taskReportsRouter,
  templatesRouter,
  taskRecipientsRouter,
  taskControlsRouter,
  tasksRouter,
  dashboardRouter,
  messagesRouter,
  callbackEventsRouter,
  wecomConfigRouter,
  webhooksRouter,
];

/** Routers mounted at the root without authentication (login, download links); they authenticate themselves. */
export const publicRouters: ReadonlyArray<(ctx: AppContext) => Router> = [authPublicRouter, fileDownloadRouter];

/**
 * Machine-to-machine webhooks, mounted ahead of the browser-facing middleware (access log, helmet,
 * CORS): they verify their own signatures, answer in bulk, and per-request logging would dominate their cost.
 */
export const webhookRouters: ReadonlyArray<(ctx: AppContext) => Router> = [gatewayCallbackRouter, wecomCallbackRouter];
