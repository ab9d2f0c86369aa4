/*
 * vbrowse.ts - what a version's grid was showing: version, filters (as one
 * asset query), order, the page cache of assets, the active asset and the
 * selection.
 *
 * Kept in module state (one at a time), like the datalake's browse.ts, so
 * that opening an asset in the annotation tool and coming back lands on the
 * same asset with the same selection, and so the tool steps to the
 * previous and next asset of the same filtered, ordered list.
 */
import { versions, type Asset } from '../../lib/datasets';
import { PageCache } from '../../lib/pagecache';

/** Explicit asset ids, or every asset matching the query. */
export type Selection = { all: true } | { all: false; ids: ReadonlySet<number> };
export const NONE: Selection = { all: false, ids: new Set() };

export interface VBrowse {
  key: string;
  version: number;
  q: string;
  order: string;
  cache: PageCache<Asset>;
  active: number;
  sel: Selection;
  /** The grid's URL, to come back to from the tool. */
  listUrl: string;
  /** Set when an asset is opened: the grid takes the focus back when shown again. */
  returning: boolean;
  /** An annotation was saved from the tool: the grid reads its pages again. */
  stale: boolean;
  /** The grid, while shown: told when `stale` is set (a save that lands after it came back). */
  onStale?: () => void;
}

let current: VBrowse | null = null;

export const PAGE_SIZE = 100;

export function vbrowseFor(version: number, q: string, order: string, count?: number): VBrowse {
  const key = JSON.stringify([version, q, order]);
  if (current?.key === key) return current;
  current?.cache.dispose();
  const cache = new PageCache<Asset>(
    {
      fetchPage: (cursor, limit, signal) => versions.assets(version, q, order, cursor, limit, signal),
      fetchCount: (signal) => versions.count(version, q, signal),
    },
    { pageSize: PAGE_SIZE, count },
  );
  current = { key, version, q, order, cache, active: 0, sel: NONE, listUrl: '', returning: false, stale: false };
  return current;
}

export function currentVBrowse(): VBrowse | null {
  return current;
}

export function forgetVBrowse() {
  current?.cache.dispose();
  current = null;
}
