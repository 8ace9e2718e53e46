import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Button, Space, Table, type TableColumnsType } from 'antd';
import { useCallback, useState } from 'react';
import { useTranslation } from 'react-i18next';

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/**
 * A server-paginated list: the API's keyset cursors, kept as a stack so "previous" goes back without
 * offsets. The query key is `[...key, cursor]`, so invalidating `key` re-reads the page on screen.
 * Changing a filter in `key` starts again at the first page.
 */
export function useCursorPages<T>(key: readonly unknown[], fetchPage: (cursor: string | undefined) => Promise<Page<T>>, opts: { enabled?: boolean } = {}) {
  const [stack, setStack] = useState<{ key: string; cursors: Array<string | undefined> }>({ key: JSON.stringify(key), cursors: [undefined] });
  const keyText = JSON.stringify(key);
  const cursors = stack.key === keyText ? stack.cursors : [undefined];
  const cursor = cursors[cursors.length - 1];
  // The page on screen stays while the next or previous one loads; a changed filter never shows the
  // rows of the old one (they would read as its answer).
  const query = useQuery({
    queryKey: [...key, cursor ?? null],
    queryFn: () => fetchPage(cursor),
    placeholderData: (previous, previousQuery) => (previousQuery && JSON.stringify(previousQuery.queryKey.slice(0, -1)) === keyText ? keepPreviousData(previous) : undefined),
    enabled: opts.enabled,
  });
  const next = query.data?.next_cursor ?? null;
  const goNext = useCallback(() => next && setStack({ key: keyText, cursors: [...cursors, next] }), [next, keyText, cursors]);
  const goBack = useCallback(() => setStack({ key: keyText, cursors: cursors.slice(0, -1) }), [keyText, cursors]);
  return { query, rows: query.data?.data ?? [], page: cursors.length, hasNext: Boolean(next), hasPrevious: cursors.length > 1, goNext, goBack };
}

/** Previous / next buttons of a cursor-paginated list. */
export function CursorPager({ pages, testId }: { pages: { page: number; hasNext: boolean; hasPrevious: boolean; goNext: () => void; goBack: () => void }; testId?: string }) {
  const { t } = useTranslation();
  if (!pages.hasNext && !pages.hasPrevious) return null;
  return (
    <Space style={{ marginTop: 8 }} data-testid={testId ? `${testId}-pager` : undefined} data-page={pages.page}>
      <Button disabled={!pages.hasPrevious} onClick={pages.goBack} data-testid={testId ? `${testId}-previous` : undefined}>
        {t('common.previous')}
      </Button>
      <Button disabled={!pages.hasNext} onClick={pages.goNext} data-testid={testId ? `${testId}-next` : undefined}>
        {t('common.next')}
      </Button>
    </Space>
  );
}

/**
 * One server page of a list as a table, with its previous / next buttons under it: the DOM holds the
 * page on screen, never the list. `testId` names the table, `pagerTestId` the buttons.
 */
export function CursorTable<T extends object>({ pages, columns, testId, pagerTestId, scrollX, rowKey = 'id' as keyof T & string }: { pages: ReturnType<typeof useCursorPages<T>>; columns: TableColumnsType<T>; testId?: string; pagerTestId: string; scrollX: number; rowKey?: keyof T & string }) {
  return (
    <>
      <Table<T> rowKey={rowKey} size="small" loading={pages.query.isLoading} dataSource={pages.rows} pagination={false} scroll={{ x: scrollX }} data-testid={testId} columns={columns} />
      <CursorPager pages={pages} testId={pagerTestId} />
    </>
  );
}
