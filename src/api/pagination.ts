import type { Knex } from 'knex';
import { z } from 'zod';
import { ValidationError } from '../errors';

/**
 * Keyset ("cursor") pagination: rows are ordered by (created_at DESC, id DESC) and the cursor is the
 * last row's pair, so page N costs the same as page 1 and inserts never shift pages.
 */
export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

export type PageQuery = z.infer<typeof pageQuery>;

interface CursorValue {
  t: string;
  id: string | number;
}

export function encodeCursor(row: { created_at: Date | string; id: string | number }): string {
  const t = row.created_at instanceof Date ? row.created_at.toISOString() : String(row.created_at);
  return Buffer.from(JSON.stringify({ t, id: row.id } satisfies CursorValue)).toString('base64url');
}

export function decodeCursor(cursor: string): CursorValue {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as CursorValue;
    if (typeof v.t !== 'string' || Number.isNaN(Date.parse(v.t)) || (typeof v.id !== 'string' && typeof v.id !== 'number')) {
      throw new Error('bad cursor');
    }
    return v;
  } catch {
    throw new ValidationError([{ field: 'query.cursor', message: 'invalid cursor' }]);
  }
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/**
 * Applies the keyset condition and limit to `builder` (which must select `created_at` and `id` of
 * `table`), runs it, and returns one page.
 */
export async function paginate<T extends { created_at: Date | string; id: string | number }>(
  builder: Knex.QueryBuilder,
  page: PageQuery,
  table?: string,
): Promise<Page<T>> {
  const col = (c: string) => (table ? `${table}.${c}` : c);
  if (page.cursor) {
    const c = decodeCursor(page.cursor);
    const t = new Date(c.t);
    builder.where((w) => w.where(col('created_at'), '<', t).orWhere((x) => x.where(col('created_at'), '=', t).andWhere(col('id'), '<', c.id)));
  }
  const rows = (await builder.orderBy(col('created_at'), 'desc').orderBy(col('id'), 'desc').limit(page.limit + 1)) as T[];
  const hasMore = rows.length > page.limit;
  const data = hasMore ? rows.slice(0, page.limit) : rows;
  return { data, next_cursor: hasMore ? encodeCursor(data[data.length - 1]) : null };
}

export const pageResponse = <T extends z.ZodTypeAny>(item: T) =>
  z.object({ data: z.array(item), next_cursor: z.string().nullable() });
