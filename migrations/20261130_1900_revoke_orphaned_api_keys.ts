import type { Knex } from 'knex';

/**
 * API keys die with their creator (issue 8, finding 7). Keys whose creating operator was already
 * deactivated or deleted before that rule, and the keys those keys created, are revoked once here.
 */
export async function up(knex: Knex): Promise<void> {
  let frontier: string[] = (await knex('users').whereIn('status', ['inactive', 'deleted']).pluck('id')) as string[];
  const seen = new Set(frontier);
  while (frontier.length > 0) {
    const children = (await knex('api_keys').whereIn('created_by', frontier).pluck('id')) as string[];
    await knex('api_keys').whereIn('id', children).whereNull('revoked_at').update({ revoked_at: knex.fn.now(3) });
    frontier = children.filter((id) => !seen.has(id));
    for (const id of frontier) seen.add(id);
  }
}

export async function down(): Promise<void> {
  // Revocations are not undone.
}
