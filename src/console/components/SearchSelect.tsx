import { keepPreviousData, useInfiniteQuery } from '@tanstack/react-query';
import { Select } from 'antd';
import { useEffect, useRef, useState } from 'react';
import type { Page } from './CursorPager';

export type SearchSelectProps = { allowClear?: boolean; testId?: string; label: string; style?: React.CSSProperties } & (
  | { mode?: undefined; value?: string; onChange: (v: string | undefined) => void }
  | { mode: 'multiple'; value?: string[]; onChange: (v: string[]) => void }
);

/** Typing settles before the server is asked: one list request per pause, not per key. */
const SEARCH_DELAY_MS = 300;

function useSettled<T>(value: T, delayMs: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), delayMs);
    return () => clearTimeout(timer);
  }, [value, delayMs]);
  return settled;
}

/**
 * A picker over a server list of any length: the server searches (`q`) as the operator types, and the
 * next keyset page loads when the options are scrolled to their end. Picked rows keep their labels
 * while a search shows others.
 */
export function SearchSelect<T>({
  listKey,
  fetchPage,
  toOption,
  ...props
}: SearchSelectProps & { listKey: string; fetchPage: (q: string, cursor: string | undefined) => Promise<Page<T>>; toOption: (row: T) => { value: string; label: string } }) {
  const [typed, setTyped] = useState('');
  const q = useSettled(typed, SEARCH_DELAY_MS);
  const found = useInfiniteQuery({
    queryKey: [listKey, 'search', q],
    queryFn: ({ pageParam }) => fetchPage(q, pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    placeholderData: keepPreviousData,
  });
  const known = useRef(new Map<string, string>()).current;
  const options = (found.data?.pages ?? []).flatMap((p) => p.data.map(toOption));
  for (const o of options) known.set(o.value, o.label);
  const picked = (props.mode === 'multiple' ? (props.value ?? []) : props.value ? [props.value] : []).filter((id) => !options.some((o) => o.value === id));
  const all = [...options, ...picked.map((id) => ({ value: id, label: known.get(id) ?? id }))];
  const onPopupScroll = (e: React.UIEvent<HTMLDivElement>) => {
    const el = e.currentTarget;
    if (el.scrollTop + el.clientHeight >= el.scrollHeight - 40 && found.hasNextPage && !found.isFetchingNextPage) void found.fetchNextPage();
  };
  return (
    <Select
      mode={props.mode}
      value={props.value}
      onChange={(v: string | string[] | undefined) => (props.onChange as (v: unknown) => void)(v)}
      allowClear={props.allowClear}
      options={all}
      placeholder={props.label}
      aria-label={props.label}
      data-testid={props.testId}
      showSearch={{ filterOption: false, onSearch: (v) => setTyped(v.trim()) }}
      onPopupScroll={onPopupScroll}
      loading={found.isFetching}
      style={{ minWidth: 200, ...props.style }}
    />
  );
}
