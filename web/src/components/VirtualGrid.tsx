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
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

export interface VirtualGridProps {
  count: number;
  /** Smallest cell width in px; columns stretch to fill the row. */
  itemWidth: number;
  itemHeight: number;
  gap?: number;
  /** Rows rendered beyond the visible ones, above and below. */
  overscan?: number;
  label: string;
  renderItem: (index: number, state: { active: boolean; selected: boolean }) => ComponentChildren;
  selected?: ReadonlySet<number>;
  onSelectionChange?: (next: Set<number>) => void;
  onActivate?: (index: number) => void;
  onActiveChange?: (index: number) => void;
  onRangeChange?: (first: number, last: number) => void;
  class?: string;
}

let gridSeq = 0;

export function VirtualGrid(p: VirtualGridProps) {
  const gap = p.gap ?? 8;
  const overscan = p.overscan ?? 2;
  const scroller = useRef<HTMLDivElement>(null);
  const id = useRef(`vgrid-${++gridSeq}`).current;
  const [size, setSize] = useState({ w: 0, h: 0 });
  const [range, setRange] = useState({ first: 0, last: -1 });
  const [active, setActive] = useState(0);
  const anchor = useRef(0);

  const cols = Math.max(1, Math.floor((size.w + gap) / (p.itemWidth + gap)));
  const rows = Math.ceil(p.count / cols);
  const rowH = p.itemHeight + gap;
  const total = Math.max(0, rows * rowH - gap);
  const visibleRows = Math.max(1, Math.floor(size.h / rowH));

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

  const select = (i: number, e: { shiftKey: boolean; ctrlKey: boolean; metaKey: boolean }) => {
    if (!p.onSelectionChange) return;
    const cur = p.selected ?? new Set<number>();
    if (e.shiftKey) {
      const [a, b] = anchor.current < i ? [anchor.current, i] : [i, anchor.current];
      const next = e.ctrlKey || e.metaKey ? new Set(cur) : new Set<number>();
      for (let k = a; k <= b; k++) next.add(k);
      p.onSelectionChange(next);
      return;
    }
    anchor.current = i;
    if (e.ctrlKey || e.metaKey) {
      const next = new Set(cur);
      if (next.has(i)) next.delete(i);
      else next.add(i);
      p.onSelectionChange(next);
    } else {
      p.onSelectionChange(new Set([i]));
    }
  };

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
        if (p.selected?.size && p.onSelectionChange) {
          p.onSelectionChange(new Set());
          e.preventDefault();
        }
        return;
      case 'a':
        if ((e.ctrlKey || e.metaKey) && p.onSelectionChange) {
          const all = new Set<number>();
          for (let k = 0; k < p.count; k++) all.add(k);
          p.onSelectionChange(all);
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
      const isSelected = !!p.selected?.has(i);
      cells.push(
        <div
          key={i}
          id={`${id}-cell-${i}`}
          role="gridcell"
          aria-colindex={c + 1}
          aria-selected={p.onSelectionChange ? isSelected : undefined}
          class={'vgrid-cell' + (isActive ? ' vgrid-active' : '') + (isSelected ? ' vgrid-selected' : '')}
          data-index={i}
          onClick={(e) => {
            setActive(i);
            p.onActiveChange?.(i);
            select(i, e);
          }}
          onDblClick={() => p.onActivate?.(i)}
        >
          {p.renderItem(i, { active: isActive, selected: isSelected })}
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
      aria-multiselectable={p.onSelectionChange ? true : undefined}
      aria-activedescendant={p.count ? `${id}-cell-${active}` : undefined}
      tabIndex={0}
      onScroll={computeRange}
      onKeyDown={onKeyDown}
    >
      <div class="vgrid-spacer" style={{ height: `${total}px` }}>
        {rowEls}
      </div>
    </div>
  );
}
