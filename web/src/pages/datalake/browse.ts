/*
 * browse.ts - what the datalake page was showing: datalake, query, order,
 * the page cache, the active item and the selection.
 *
 * Kept in module state (one at a time) so that opening an item and coming
 * back lands on the same item with the same selection, without reading the
 * listing again, and so the detail page can step to the previous and next
 * item of the same search. A new datalake, query or order starts a new one.
 */
import { lakes } from '../../lib/datalake';
import { PageCache } from '../../lib/pagecache';
import type { DataItem } from '../../lib/types';
import { uploads } from '../../lib/upload';

/** Explicit ids, or every item matching the query. */
export type Selection = { all: true } | { all: false; ids: ReadonlySet<number> };

export const NONE: Selection = { all: false, ids: new Set() };

export interface Browse {
  key: string;
  lake: number;
  q: string;
  order: string;
  cache: PageCache<DataItem>;
  active: number;
  sel: Selection;
  /** The list's URL, to come back to from an item. */
  listUrl: string;
  /** Set when an item is opened: the list takes the focus back when shown again. */
  returning: boolean;
  /** uploads.storedIn(lake) when the cache was last (re)started. */
  uploadsSeen: number;
}

let current: Browse | null = null;

/** The page cache size: 100 items (a screenful or two), 60 of them kept. */
export const PAGE_SIZE = 100;

let primed: { lake: number; q: string; count: number } | null = null;

/** The search box just counted q (to check it): the next cache for it starts with that count. */
export function primeCount(lake: number, q: string, count: number) {
  primed = { lake, q, count };
}

export function browseFor(lake: number, q: string, order: string): Browse {
  const key = JSON.stringify([lake, q, order]);
  const count = primed && primed.lake === lake && primed.q === q ? primed.count : undefined;
  primed = null;
  if (current?.key === key) return current;
  current?.cache.dispose();
  const cache = new PageCache<DataItem>(
    {
      fetchPage: (cursor, limit, signal) => lakes.search(lake, q, order, cursor, limit, signal),
      fetchCount: (signal) => lakes.count(lake, q, signal),
    },
    { pageSize: PAGE_SIZE, count },
  );
  current = { key, lake, q, order, cache, active: 0, sel: { all: false, ids: new Set() }, listUrl: '/datalake', returning: false, uploadsSeen: uploads.storedIn(lake) };
  return current;
}

export function currentBrowse(): Browse | null {
  return current;
}

/** Forget the kept browsing (organization switch). */
export function forgetBrowse() {
  current?.cache.dispose();
  current = null;
}
