import { Router } from 'express';
import type { AppContext } from '../../context';
import { promRegistry } from '../../metrics/prometheus';

/** Liveness (process answers), readiness (MySQL and Redis answer), Prometheus metrics. Unauthenticated. */
export function healthRouter(ctx: AppContext): Router {
  const router = Router();
  router.get('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/health/ready', async (_req, res) => {
    const check = async (fn: () => Promise<unknown>) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        const timeout = new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), 2000);
        });
        await Promise.race([fn(), timeout]);
        return 'ok';
      } catch (err) {
        return `error: ${(err as Error).message}`;
      } finally {
        clearTimeout(timer);
      }
    };
    const [mysql, redis] = await Promise.all([check(() => ctx.db.raw('SELECT 1')), check(() => ctx.redis.ping())]);
    const ok = mysql === 'ok' && redis === 'ok';
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'unavailable', checks: { mysql, redis } });
  });
  router.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', promRegistry.contentType);
    res.send(await promRegistry.metrics());
  });
  return router;
}
