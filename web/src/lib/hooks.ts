/*
 * hooks.ts - small hooks shared by pages: load something from the API, poll,
 * page through a keyset list.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { errorMessage, isAbort, type Page } from './api';

export interface Loaded<T> {
  data: T | undefined;
  error: string | null;
  loading: boolean;
  reload: () => void;
  setData: (v: T) => void;
}

/** Runs `fn` when `deps` change (aborting the previous run) and keeps its result. */
export function useLoad<T>(fn: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const ac = new AbortController();
    setLoading(true);
    fn(ac.signal).then(
      (v) => {
        if (ac.signal.aborted) return;
        setData(v);
        setError(null);
        setLoading(false);
      },
      (e) => {
        if (ac.signal.aborted || isAbort(e)) return;
        setError(errorMessage(e));
        setLoading(false);
      },
    );
    return () => ac.abort();
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload, setData };
}

/** Calls `fn` every `ms` while `active`, skipping ticks while the tab is hidden. */
export function useInterval(fn: () => void, ms: number, active = true) {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    if (!active) return;
    const id = window.setInterval(() => {
      if (!document.hidden) ref.current();
    }, ms);
    return () => window.clearInterval(id);
  }, [ms, active]);
}

export interface KeysetList<T> {
  items: T[];
  setItems: (fn: (items: T[]) => T[]) => void;
  error: string | null;
  loading: boolean;
  hasMore: boolean;
  loadMore: () => void;
  reload: () => void;
}

/**
 * A keyset-paginated list: the first page on mount (and when deps change),
 * more with loadMore(). `fetchPage(cursor)` returns the API's `{items, next_cursor}`.
 */
export function useKeysetList<T>(
  fetchPage: (cursor: string | number | null, signal: AbortSignal) => Promise<Page<T>>,
  deps: unknown[],
): KeysetList<T> {
  const [items, setItemsState] = useState<T[]>([]);
  const [cursor, setCursor] = useState<string | number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const ac = useRef<AbortController | null>(null);
  const fetchRef = useRef(fetchPage);
  fetchRef.current = fetchPage;

  const run = (from: string | number | null, append: boolean) => {
    ac.current?.abort();
    const c = new AbortController();
    ac.current = c;
    setLoading(true);
    fetchRef.current(from, c.signal).then(
      (page) => {
        if (c.signal.aborted) return;
        setItemsState((old) => (append ? [...old, ...page.items] : page.items));
        setCursor(page.next_cursor ?? null);
        setError(null);
        setLoading(false);
      },
      (e) => {
        if (c.signal.aborted || isAbort(e)) return;
        setError(errorMessage(e));
        setLoading(false);
      },
    );
  };

  useEffect(() => {
    setItemsState([]);
    setCursor(null);
    run(null, false);
    return () => ac.current?.abort();
  }, [...deps, tick]);

  return {
    items,
    setItems: (fn) => setItemsState(fn),
    error,
    loading,
    hasMore: cursor !== null && cursor !== undefined,
    loadMore: () => {
      if (cursor !== null) run(cursor, true);
    },
    reload: () => setTick((t) => t + 1),
  };
}
