/*
 * VirtualGrid.tsx - a grid of many same-sized cells (datalake thumbnails,
 * dataset assets: 100,000 and more) that renders only the rows in view.
 *
 * Layout: the scroller holds a spacer as tall as all rows; only the visible
 * rows plus `overscan` rows above and below exist in the DOM, each placed
 * with a transform. Columns fill the width: as many `itemWidth` cells as fit,
 * stretched to share the leftover space. A scroll event recomputes the row
 * range and re-renders only when that range changes, so scrolling costs a
 * few dozen cells per frame whatever `count` is. (Browsers cap an element's
 * height at some 16-33 million px: at 170 px a row that is ~100,000 rows, so
 * past a few million items this needs a scaled scrollbar.)
 *
 * Keyboard (role=grid, one tab stop, aria-activedescendant): arrows move the
 * active cell, PageUp/PageDown move a screenful, Home/End go to the first or
 * last item, Space toggles selection, Ctrl/Cmd+A selects all, Esc clears the
 * selection, Enter activates. Mouse: click selects, Ctrl/Cmd+click toggles,
 * Shift+click selects a range, double click activates.
 *
 * Data can arrive lazily: onRangeChange(first, last) reports which items are
 * rendered, so a page can fetch just those and render placeholders meanwhile.
 * While the user flings through the list (faster than 4,000 px/s),
 * renderItem is told `fast`, so cells can leave out what is costly (a
 * thumbnail's request and decoding) for rows that are gone a frame later;
 * 120 ms after it slows down, the cells in view render in full.
 *
 * Selection comes in two forms. The simple one: `selected` (a set of
 * indices) and onSelectionChange(next set), fine for a demo. The general
 * one, for lists whose items are not all loaded (the datalake): isSelected(i)
 * and onSelect(action), where the action says what the user asked for (only
 * this item, toggle it, a range from the anchor, all, none) and the page
 * decides what that means (ids, "all matching the query").
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

/** What a click or key asked of the selection (the general form). */
export type GridSelect =
  | { kind: 'only'; index: number }
  | { kind: 'toggle'; index: number }
  | { kind: 'range'; from: number; to: number; additive: boolean }
  | { kind: 'all' }
  | { kind: 'clear' };

export interface VirtualGridProps {
  count: number;
  /** Smallest cell width in px; columns stretch to fill the row. */
  itemWidth: number;
  itemHeight: number;
  gap?: number;
  /** Rows rendered beyond the visible ones, above and below. */
  overscan?: number;
  label: string;
  /** `fast`: the user is flinging through the list; skip costly content (images) until it settles. */
  renderItem: (index: number, state: { active: boolean; selected: boolean; fast: boolean }) => ComponentChildren;
  selected?: ReadonlySet<number>;
  onSelectionChange?: (next: Set<number>) => void;
  onActivate?: (index: number) => void;
  onActiveChange?: (index: number) => void;
  onRangeChange?: (first: number, last: number) => void;
  /** The general selection form (takes precedence over selected/onSelectionChange). */
  isSelected?: (index: number) => boolean;
  onSelect?: (action: GridSelect) => void;
  /** Whether Esc has a selection to clear (general form). */
  hasSelection?: boolean;
  /** The item that is active (and scrolled to) on mount, e.g. coming back from its detail. */
  initialActive?: number;
  /** Take the focus once mounted (coming back to the list from an item). */
  focusOnMount?: boolean;
  /** Extra attributes for a cell (e.g. aria-label). */
  cellProps?: (index: number) => Record<string, string | undefined>;
  class?: string;
}

let gridSeq = 0;

/** Scrolling faster than this (px per ms: 4,000 px/s) counts as flinging. */
const FAST_PX_PER_MS = 4;

export function VirtualGrid(p: VirtualGridProps) {
  const gap = p.gap ?? 8;
  const overscan = p.overscan ?? 2;
  const scroller = useRef<HTMLDivElement>(null);
  const id = useRef(`vgrid-${++gridSeq}`).current;
  const [size, setSize] = useState({ w: 0, h: 0 });
  const [range, setRange] = useState({ first: 0, last: -1 });
  const [active, setActive] = useState(p.initialActive ?? 0);
  const anchor = useRef(p.initialActive ?? 0);
  const restored = useRef(!p.initialActive);
  const selectable = !!(p.onSelect || p.onSelectionChange);

  const cols = Math.max(1, Math.floor((size.w + gap) / (p.itemWidth + gap)));
  const rows = Math.ceil(p.count / cols);
  const rowH = p.itemHeight + gap;
  const total = Math.max(0, rows * rowH - gap);
  const visibleRows = Math.max(1, Math.floor(size.h / rowH));

  /* fast scrolling (over FAST_PX_PER_MS): cells are told, and told again when it settles */
  const [fast, setFast] = useState(false);
  const lastScroll = useRef({ top: 0, t: 0 });
  const settle = useRef<number | null>(null);
  useEffect(() => () => {
    if (settle.current) window.clearTimeout(settle.current);
  }, []);
  const onScroll = () => {
    const el = scroller.current;
    if (el) {
      const now = performance.now();
      const v = Math.abs(el.scrollTop - lastScroll.current.top) / Math.max(1, now - lastScroll.current.t);
      lastScroll.current = { top: el.scrollTop, t: now };
      if (v > FAST_PX_PER_MS) {
        if (!fast) setFast(true);
        if (settle.current) window.clearTimeout(settle.current);
        settle.current = window.setTimeout(() => {
          settle.current = null;
          setFast(false);
        }, 120);
      }
    }
    computeRange();
  };

  const computeRange = () => {
    const el = scroller.current;
    if (!el) return;
    const top = el.scrollTop;
    const first = Math.max(0, Math.floor(top / rowH) - overscan);
    const last = Math.min(rows - 1, Math.ceil((top + el.clientHeight) / rowH) + overscan);
    setRange((r) => (r.first === first && r.last === last ? r : { first, last }));
  };

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setSize({ w: el.clientWidth, h: el.clientHeight }));
    ro.observe(el);
    setSize({ w: el.clientWidth, h: el.clientHeight });
    return () => ro.disconnect();
  }, []);

  useLayoutEffect(computeRange, [size.w, size.h, rows, rowH]);

  useEffect(() => {
    if (!p.focusOnMount) return;
    /* two frames: after the shell has moved focus to the new page's heading */
    let id = window.requestAnimationFrame(() => (id = window.requestAnimationFrame(() => scroller.current?.focus({ preventScroll: true }))));
    return () => window.cancelAnimationFrame(id);
  }, []);

  /* coming back to an item: scroll it to the middle once the size is known */
  useLayoutEffect(() => {
    const el = scroller.current;
    if (restored.current || !el || !size.h || !p.count) return;
    restored.current = true;
    const top = Math.floor(active / cols) * rowH;
    el.scrollTop = Math.max(0, top - (el.clientHeight - p.itemHeight) / 2);
    computeRange();
  }, [size.h, cols, p.count]);

  useEffect(() => {
    if (range.last >= range.first) p.onRangeChange?.(range.first * cols, Math.min(p.count - 1, (range.last + 1) * cols - 1));
  }, [range.first, range.last, cols, p.count]);

  useEffect(() => {
    if (active >= p.count) setActive(Math.max(0, p.count - 1));
  }, [p.count]);

  const scrollIntoView = (i: number) => {
    const el = scroller.current;
    if (!el) return;
    const top = Math.floor(i / cols) * rowH;
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + p.itemHeight > el.scrollTop + el.clientHeight) el.scrollTop = top + p.itemHeight - el.clientHeight;
  };

  const moveTo = (i: number) => {
    if (p.count === 0) return;
    const n = Math.max(0, Math.min(p.count - 1, i));
    setActive(n);
    p.onActiveChange?.(n);
    scrollIntoView(n);
    return n;
  };

  const emit = (a: GridSelect) => {
    if (p.onSelect) {
      p.onSelect(a);
      return;
    }
    if (!p.onSelectionChange) return;
    const cur = p.selected ?? new Set<number>();
    let next: Set<number>;
    switch (a.kind) {
      case 'only': next = new Set([a.index]); break;
      case 'toggle':
        next = new Set(cur);
        if (next.has(a.index)) next.delete(a.index);
        else next.add(a.index);
        break;
      case 'range': {
        next = a.additive ? new Set(cur) : new Set<number>();
        const [lo, hi] = a.from < a.to ? [a.from, a.to] : [a.to, a.from];
        for (let k = lo; k <= hi; k++) next.add(k);
        break;
      }
      case 'all':
        next = new Set<number>();
        for (let k = 0; k < p.count; k++) next.add(k);
        break;
      case 'clear': next = new Set(); break;
    }
    p.onSelectionChange(next);
  };

  const select = (i: number, e: { shiftKey: boolean; ctrlKey: boolean; metaKey: boolean }) => {
    if (!selectable) return;
    if (e.shiftKey) {
      emit({ kind: 'range', from: anchor.current, to: i, additive: e.ctrlKey || e.metaKey });
      return;
    }
    anchor.current = i;
    emit(e.ctrlKey || e.metaKey ? { kind: 'toggle', index: i } : { kind: 'only', index: i });
  };

  const isSelected = (i: number) => (p.isSelected ? p.isSelected(i) : !!p.selected?.has(i));
  const hasSelection = p.onSelect ? !!p.hasSelection : !!p.selected?.size;

  const onKeyDown = (e: KeyboardEvent) => {
    let next: number | null = null;
    switch (e.key) {
      case 'ArrowRight': next = active + 1; break;
      case 'ArrowLeft': next = active - 1; break;
      case 'ArrowDown': next = active + cols; break;
      case 'ArrowUp': next = active - cols; break;
      case 'PageDown': next = active + visibleRows * cols; break;
      case 'PageUp': next = active - visibleRows * cols; break;
      case 'Home': next = 0; break;
      case 'End': next = p.count - 1; break;
      case 'Enter':
        if (p.count) p.onActivate?.(active);
        e.preventDefault();
        return;
      case ' ':
        if (p.count) select(active, { shiftKey: e.shiftKey, ctrlKey: true, metaKey: false });
        e.preventDefault();
        return;
      case 'Escape':
        if (hasSelection && selectable) {
          emit({ kind: 'clear' });
          e.preventDefault();
        }
        return;
      case 'a':
        if ((e.ctrlKey || e.metaKey) && selectable) {
          emit({ kind: 'all' });
          e.preventDefault();
        }
        return;
      default:
        return;
    }
    e.preventDefault();
    const n = moveTo(next);
    if (n !== undefined && e.shiftKey) select(n, { shiftKey: true, ctrlKey: false, metaKey: false });
  };

  const rowEls = [];
  for (let r = range.first; r <= range.last; r++) {
    const cells = [];
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      if (i >= p.count) break;
      const isActive = i === active;
      const sel = isSelected(i);
      cells.push(
        <div
          {...p.cellProps?.(i)}
          key={i}
          id={`${id}-cell-${i}`}
          role="gridcell"
          aria-colindex={c + 1}
          aria-selected={selectable ? sel : undefined}
          class={'vgrid-cell' + (isActive ? ' vgrid-active' : '') + (sel ? ' vgrid-selected' : '')}
          data-index={i}
          onClick={(e) => {
            setActive(i);
            p.onActiveChange?.(i);
            select(i, e);
          }}
          onDblClick={() => p.onActivate?.(i)}
        >
          {p.renderItem(i, { active: isActive, selected: sel, fast })}
        </div>,
      );
    }
    rowEls.push(
      <div
        key={r}
        role="row"
        aria-rowindex={r + 1}
        class="vgrid-row"
        style={{ transform: `translateY(${r * rowH}px)`, height: `${p.itemHeight}px`, gridTemplateColumns: `repeat(${cols}, minmax(0, 1fr))`, columnGap: `${gap}px` }}
      >
        {cells}
      </div>,
    );
  }

  return (
    <div
      ref={scroller}
      class={'vgrid ' + (p.class ?? '')}
      role="grid"
      aria-label={p.label}
      aria-rowcount={rows}
      aria-colcount={cols}
      aria-multiselectable={selectable ? true : undefined}
      aria-activedescendant={p.count ? `${id}-cell-${active}` : undefined}
      tabIndex={0}
      onScroll={onScroll}
      onKeyDown={onKeyDown}
    >
      <div class="vgrid-spacer" style={{ height: `${total}px` }}>
        {rowEls}
      </div>
    </div>
  );
}
