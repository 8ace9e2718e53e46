/**
 * Realtime events published while Redis is unreachable: the Socket.IO emitter drops the promise of its
 * PUBLISH, which then rejected unowned (a worker or the API logged an unhandled rejection in the chaos
 * run). The publisher owns it now: the event is counted as dropped, nothing reaches the process.
 */
import { unreachableRedis } from '../helpers/unreachable-redis';
import { RealtimePublisher } from '../../src/realtime/publisher';
import { waitFor } from '../helpers/wait';

test('publishing with Redis down neither throws nor leaves an unhandled rejection; the drop is counted', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  // Nothing listens on port 1: every command fails once its retries are spent.
  const redis = unreachableRedis({ url: 'redis://127.0.0.1:1', prefix: '{rt-down}' }, 'command', { retryStrategy: () => 50 });
  try {
    const publisher = new RealtimePublisher(redis, '{rt-down}');
    publisher.toTenant('t1', 'task.progress', { percent: 1 });
    publisher.endSessions({ tenantId: 't1' });
    await waitFor(() => publisher.dropped, 'both publishes given up', { until: (n) => n === 2, timeoutMs: 20_000 });
    // One more turn of the event loop for a rejection to be reported, had it been left unowned.
    await new Promise((r) => setImmediate(r));
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    redis.disconnect();
  }
});
