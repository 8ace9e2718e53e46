import { Router } from 'express';
import type { AppContext } from '../../context';
import { promRegistry } from '../../metrics/prometheus';
import { bearerMatches } from '../../auth/bearer-token';
import { UnauthorizedError } from '../../errors';
import type { ReplicaSnapshot } from '../../db/read-replica';

function replicaCheck(r: ReplicaSnapshot): string {
  if (r.state === 'ok') return 'ok';
  if (r.state === 'lagging') return `lagging: ${r.lagSeconds} s behind (max ${r.maxLagSeconds} s)`;
  if (r.state === 'starting') return 'starting: not checked yet';
  return `down: ${r.reason ?? 'unknown'}`;
}

/**
 * Liveness (process answers), readiness (MySQL and Redis answer; with a read replica configured, its state
 * and lag: `degraded` while reads fall back to the primary), Prometheus metrics. Unauthenticated.
 */
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
    const replica = ctx.replica.snapshot();
    if (replica.state === 'unconfigured') {
      res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'unavailable', checks: { mysql, redis } });
      return;
    }
    // A replica that is down or lagging degrades, never fails, readiness: its reads went to the primary.
    const status = !ok ? 'unavailable' : replica.state === 'ok' ? 'ok' : 'degraded';
    res.status(ok ? 200 : 503).json({
      status,
      checks: { mysql, redis, replica: replicaCheck(replica) },
      replica: {
        state: replica.state,
        lag_seconds: replica.lagSeconds,
        max_lag_seconds: replica.maxLagSeconds,
        serving_reads: replica.state === 'ok',
        checked_at: replica.checkedAt?.toISOString() ?? null,
      },
    });
  });
  const metricsToken = ctx.config.http.metricsToken;
  router.get('/metrics', async (req, res) => {
    // Metrics name tenants and volumes: with METRICS_TOKEN set, only the scraper holding it reads them.
    if (metricsToken && !bearerMatches(req.get('authorization'), metricsToken)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
      throw new UnauthorizedError('METRICS_TOKEN required as a bearer token', 'unauthorized');
    }
    res.setHeader('Content-Type', promRegistry.contentType);
    res.send(await promRegistry.metrics());
  });
  return router;
}
