import { randomUUID } from 'node:crypto';
import cors from 'cors';
import express, { type Express } from 'express';
import helmet from 'helmet';
import swaggerUi from 'swagger-ui-express';
import type { AppContext } from '../context';
import { logContext } from '../logger';
import { httpRequestDuration } from '../metrics/prometheus';
import { accessLog } from './access-log';
import { authenticate } from './authenticate';
import { consoleRouter } from './console-static';
import { errorHandler, notFound } from './error-handler';
import { jsonBody, requireValidClientIp } from './input-guards';
import { openApiDocument } from './openapi';
import { healthRouter } from './routes/health';
import { apiRouters, publicRouters, webhookRouters } from './routes';

export function createApp(ctx: AppContext): Express {
  const app = express();
  app.disable('x-powered-by');
  // Only the configured proxies may set the client address (X-Forwarded-For); anyone else could forge it.
  const proxies = ctx.config.http.trustProxy;
  app.set('trust proxy', proxies.length > 0 ? proxies : false);

  app.use((req, res, next) => {
    const incoming = req.get('x-request-id');
    req.requestId = incoming && incoming.length <= 64 ? incoming : randomUUID();
    res.setHeader('X-Request-Id', req.requestId);
    logContext.run({ requestId: req.requestId }, next);
  });
  app.use(requireValidClientIp);
  for (const make of webhookRouters) app.use(make(ctx));
  app.use(accessLog(ctx.logger));
  app.use((req, res, next) => {
    const end = httpRequestDuration.startTimer();
    res.on('finish', () => end({ method: req.method, route: req.route?.path ?? 'unmatched', status: String(res.statusCode) }));
    next();
  });
  app.use(helmet({ contentSecurityPolicy: false }));
  const origins = ctx.config.http.corsOrigins;
  app.use(cors({ origin: origins.includes('*') ? true : origins, exposedHeaders: ['X-Request-Id', 'Retry-After'] }));

  app.use(healthRouter(ctx));
  app.use(consoleRouter());
  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument());
  });
  app.use('/docs', swaggerUi.serve, swaggerUi.setup(undefined, { swaggerOptions: { url: '/openapi.json' } }));

  // Public routers read their own bodies (webhooks need the raw bytes for signatures).
  for (const make of publicRouters) app.use(make(ctx));

  const api = express.Router();
  api.use(jsonBody(ctx.config.http.bodyLimit));
  api.use(authenticate(ctx.db, ctx.config));
  for (const make of apiRouters) api.use(make(ctx));
  app.use('/api/v1', api);

  app.use(notFound);
  app.use(errorHandler);
  return app;
}
