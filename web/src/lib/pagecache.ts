/*
 * pagecache.ts - random access to a keyset-paginated listing, for a virtual
 * grid over 100,000 items.
 *
 * Keyset pages (`?cursor=`) can only be read forward: a page needs the cursor
 * the previous answer gave. A virtual grid asks for whatever rows are on
 * screen, anywhere in the list. The cache bridges the two:
 *
 *  - Items are grouped in fixed pages of `pageSize`: page k holds items
 *    k*pageSize ... (k+1)*pageSize-1. Loaded pages live in an LRU of
 *    `maxPages`; the pages on screen are never evicted.
 *  - `cursors` is a sparse index page -> the cursor that reads it (page 0:
 *    none). Every answer adds the cursor after its last item. Cursors are a
 *    few dozen bytes and are kept, so an evicted page comes back in one
 *    request.
 *  - A page past the last known cursor is reached by walking forward from
 *    the nearest known one in hops of up to `maxHop` pages (one request of
 *    pageSize*hop items; the API allows 1000), keeping the pages read on the
 *    way. The cursor is known only at the end of a hop, so a page inside a
 *    hop, once evicted, is read again from the hop's start.
 *  - One request at a time: a walk is sequential anyway, and the wanted range
 *    is read again after every answer, so a walk nobody waits for any more
 *    (the user scrolled back) stops after the request in flight.
 *  - The total comes from a count request, so the grid has its full height
 *    before any page arrives; reaching the end of the list corrects it if
 *    items came or went meanwhile.
 *
 * refresh() drops the pages but keeps the cursors (after changing tags: the
 * order and the membership did not change); reset() starts over (after
 * uploads or deletes, or when the tags changed under a query on tags).
 * Listeners are told after every change; `version` counts changes.
 */
import { ApiError, errorMessage, isAbort, type Page } from './api';

export type Cursor = string | number | null;

export interface PageSource<T> {
  fetchPage: (cursor: Cursor, limit: number, signal: AbortSignal) => Promise<Page<T>>;
  fetchCount: (signal: AbortSignal) => Promise<number>;
}

export interface PageCacheOptions {
  pageSize?: number;
  maxPages?: number;
  maxHop?: number;
  /** Pages fetched beyond the wanted range (read-ahead). */
  ahead?: number;
  /** The count, when the caller has just asked for it (no second request). */
  count?: number;
}

export class PageCache<T> {
  readonly pageSize: number;
  readonly maxPages: number;
  readonly maxHop: number;
  readonly ahead: number;
  /** null until the count arrives. */
  count: number | null = null;
  error: string | null = null;
  /** The HTTP status of the error (400: the query is wrong). */
  errorStatus = 0;
  version = 0;
  /** A request is in flight. */
  loading = false;

  private pages = new Map<number, T[]>(); // insertion order is the LRU order
  /** After reset(): the old pages, shown until fresh ones replace them. */
  private stale = new Map<number, T[]>();
  private cursors = new Map<number, Cursor>([[0, null]]);
  private wantA = 0;
  private wantB = -1;
  private gen = 0;
  private ac = new AbortController();
  private lock: Promise<void> = Promise.resolve();
  private pumping = false;
  private subs = new Set<() => void>();

  constructor(
    private src: PageSource<T>,
    opts: PageCacheOptions = {},
  ) {
    this.pageSize = opts.pageSize ?? 100;
    this.maxPages = opts.maxPages ?? 60;
    this.maxHop = Math.max(1, opts.maxHop ?? Math.floor(1000 / this.pageSize));
    this.ahead = opts.ahead ?? 1;
    if (opts.count !== undefined) this.count = opts.count;
    else this.loadCount();
  }

  subscribe(fn: () => void): () => void {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }

  /** The item at index i, if its page is loaded. */
  get(i: number): T | undefined {
    const k = Math.floor(i / this.pageSize);
    const p = this.pages.get(k) ?? this.stale.get(k);
    if (!p) return undefined;
    return p[i - k * this.pageSize];
  }

  /** The grid shows items first..last: load their pages (and read ahead). */
  want(first: number, last: number) {
    this.wantA = Math.max(0, Math.floor(first / this.pageSize));
    this.wantB = last < first ? this.wantA - 1 : Math.floor(last / this.pageSize) + this.ahead;
    for (let k = this.wantA; k <= this.wantB; k++) this.touch(k);
    void this.pump();
  }

  /** Items first..last, loading what is missing (for a shift-click range). */
  async collect(first: number, last: number): Promise<T[]> {
    const gen = this.gen;
    const out: T[] = [];
    for (let k = Math.floor(first / this.pageSize); k <= Math.floor(last / this.pageSize); k++) {
      if (!this.pages.has(k) && !this.beyondEnd(k)) await this.locked(() => this.hopToward(k, gen));
      if (gen !== this.gen) throw new DOMException('The list changed.', 'AbortError');
      if (!this.pages.has(k) && this.error) throw new Error(this.error);
      const p = this.pages.get(k) ?? [];
      for (let j = 0; j < p.length; j++) {
        const i = k * this.pageSize + j;
        if (i >= first && i <= last) out.push(p[j]);
      }
    }
    return out;
  }

  /**
   * While walking toward a far page: how far the known cursors reach and
   * where the walk is going (items), for a progress line; null otherwise.
   */
  walk(): { reached: number; target: number } | null {
    if (!this.loading) return null;
    let reach = 0;
    for (const k of this.cursors.keys()) if (k > reach) reach = k;
    const target = this.wantA * this.pageSize;
    return target > (reach + this.maxHop) * this.pageSize ? { reached: reach * this.pageSize, target } : null;
  }

  /** Whether item i is loaded and current (not a leftover of before a reset). */
  has(i: number): boolean {
    return this.pages.has(Math.floor(i / this.pageSize));
  }

  /** Reads the shown pages again (same order and membership: cursors stay). */
  refresh() {
    this.stale = this.pages;
    this.pages = new Map();
    this.bump();
    void this.pump();
  }

  /**
   * Starts over: count, cursors and pages. Until fresh pages arrive the old
   * ones stay on screen, and the old count keeps the scroll height, so the
   * grid does not flash or jump.
   */
  reset() {
    this.ac.abort();
    this.ac = new AbortController();
    this.gen++;
    this.stale = this.pages;
    this.pages = new Map();
    this.cursors = new Map([[0, null]]);
    this.error = null;
    this.errorStatus = 0;
    this.lock = Promise.resolve();
    this.pumping = false;
    this.loadCount();
    this.bump();
    void this.pump();
  }

  retry() {
    this.error = null;
    this.errorStatus = 0;
    if (this.count === null) this.loadCount();
    this.bump();
    void this.pump();
  }

  dispose() {
    this.ac.abort();
    this.gen++;
    this.subs.clear();
  }

  private bump() {
    this.version++;
    for (const fn of [...this.subs]) fn();
  }

  private loadCount() {
    const gen = this.gen;
    this.src.fetchCount(this.ac.signal).then(
      (n) => {
        if (gen !== this.gen) return;
        this.count = n;
        this.bump();
        void this.pump();
      },
      (e) => {
        if (gen !== this.gen || isAbort(e)) return;
        this.error = errorMessage(e);
        this.errorStatus = e instanceof ApiError ? e.status : 0;
        this.bump();
      },
    );
  }

  private pageCount(): number {
    return this.count === null ? 0 : Math.ceil(this.count / this.pageSize);
  }

  private beyondEnd(k: number): boolean {
    return k >= this.pageCount();
  }

  private touch(k: number) {
    const p = this.pages.get(k);
    if (p) {
      this.pages.delete(k);
      this.pages.set(k, p);
    }
  }

  private store(k: number, items: T[]) {
    this.stale.delete(k);
    this.pages.delete(k);
    this.pages.set(k, items);
    while (this.pages.size > this.maxPages) {
      let victim: number | null = null;
      for (const key of this.pages.keys()) {
        if (key < this.wantA || key > this.wantB) {
          victim = key;
          break;
        }
      }
      if (victim === null) break;
      this.pages.delete(victim);
    }
  }

  /** The next page to read for the wanted range: one with a known cursor first. */
  private nextTarget(): number | null {
    if (this.count === null) return null;
    const last = Math.min(this.wantB, this.pageCount() - 1);
    let walk: number | null = null;
    for (let k = this.wantA; k <= last; k++) {
      if (this.pages.has(k)) continue;
      if (this.cursors.has(k)) return k;
      if (walk === null) walk = k;
    }
    return walk;
  }

  private async locked(fn: () => Promise<void>) {
    const prev = this.lock;
    let release!: () => void;
    this.lock = new Promise((r) => (release = r));
    await prev;
    try {
      await fn();
    } finally {
      release();
    }
  }

  private async pump() {
    if (this.pumping) return;
    this.pumping = true;
    const gen = this.gen;
    try {
      for (;;) {
        if (gen !== this.gen || this.error) return;
        const t = this.nextTarget();
        if (t === null) {
          if (this.count !== null && this.stale.size) {
            this.stale.clear();
            this.bump();
          }
          return;
        }
        await this.locked(() => this.hopToward(t, gen));
      }
    } finally {
      if (gen === this.gen) this.pumping = false;
    }
  }

  /** One request toward page t: from the nearest known cursor at or before t. */
  private async hopToward(t: number, gen: number) {
    if (gen !== this.gen || this.pages.has(t)) return;
    let j = t;
    while (!this.cursors.has(j)) j--;
    const hop = Math.min(this.maxHop, t - j + 1);
    this.loading = true;
    this.bump();
    let page: Page<T>;
    try {
      page = await this.src.fetchPage(this.cursors.get(j) ?? null, hop * this.pageSize, this.ac.signal);
    } catch (e) {
      if (gen !== this.gen || isAbort(e)) return;
      this.loading = false;
      this.error = errorMessage(e);
      this.errorStatus = e instanceof ApiError ? e.status : 0;
      this.bump();
      return;
    } finally {
      if (gen === this.gen) this.loading = false;
    }
    if (gen !== this.gen) return;
    const items = page.items;
    for (let h = 0; h * this.pageSize < items.length || h === 0; h++) {
      this.store(j + h, items.slice(h * this.pageSize, (h + 1) * this.pageSize));
      if (h * this.pageSize >= items.length) break;
    }
    const loaded = j * this.pageSize + items.length;
    if (page.next_cursor === null || page.next_cursor === undefined || items.length < hop * this.pageSize) {
      /* the end of the list: the count is now exact */
      this.count = loaded;
    } else {
      this.cursors.set(j + hop, page.next_cursor);
      if (this.count !== null && this.count < loaded) this.count = loaded;
    }
    this.bump();
  }
}
