import type { Knex } from 'knex';
import { newId } from '../../src/db/ids';
import { insertTask } from '../../src/db/tasks';

/**
 * A finished campaign of `count` recipients written straight into the database (multi-row inserts,
 * as the expansion writes them, with their outcomes): what a console test of a big task needs,
 * in seconds instead of the sender's minutes. Every `failEvery`-th recipient failed with
 * `target_not_found`, the rest were sent; recipient `conv-<i>` was created `i` ms after the start.
 */
export async function seedFinishedTask(db: Knex, tenantId: string, creatorId: string, opts: { count: number; failEvery: number; chunk?: number }): Promise<{ taskId: string; accountId: string }> {
  const accountId = newId();
  const taskId = newId();
  await db('wework_accounts').insert({ id: accountId, tenant_id: tenantId, account_name: 'bulk-sender', status: 'online' });
  await insertTask(db, {
    id: taskId,
    tenant_id: tenantId,
    creator_id: creatorId,
    task_name: `bulk ${opts.count}`,
    account_id: accountId,
    account_ids: [accountId],
    template_id: null,
    message_content: { content: { type: 'text', text: 'hello' } },
    target_type: 'manual',
    target_config: { conversation_ids: [] },
    send_strategy: { rate_per_minute: 0, jitter: 0, retry: { max_attempts: 1, backoff_ms: 1000, backoff: 'fixed' }, error_threshold: 0 },
    priority: 5,
    scheduled_time: null,
  });
  const start = Date.now() - opts.count - 60_000;
  const chunk = opts.chunk ?? 4000;
  const content = JSON.stringify({ type: 'text', text: 'hello' });
  const sentAt = new Date();
  for (let from = 0; from < opts.count; from += chunk) {
    const rows = [];
    for (let i = from; i < Math.min(opts.count, from + chunk); i++) {
      const failed = i % opts.failEvery === 0;
      rows.push({
        id: newId(),
        tenant_id: tenantId,
        account_id: accountId,
        conversation_id: `conv-${i}`,
        message_type: 'text',
        content,
        batch_id: taskId,
        priority: 5,
        created_at: new Date(start + i),
        send_time: sentAt,
        status: failed ? 'failed' : 'sent',
        error_code: failed ? 'target_not_found' : null,
        error_message: failed ? 'conversation does not exist' : null,
      });
    }
    // One multi-row INSERT per chunk, outcomes included (updating 100,000 rows after would re-write each).
    await db('messages').insert(rows);
  }
  await db('batch_send_tasks').where({ id: taskId }).update({ status: 'completed', total_count: opts.count, expansion_done: 1, progress_percent: 100 });
  return { taskId, accountId };
}
