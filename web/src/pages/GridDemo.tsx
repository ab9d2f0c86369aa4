/*
 * GridDemo.tsx - /dev/grid?n=100000: the virtual grid on synthetic items, for
 * trying it by hand and for the end-to-end test that checks it renders only
 * the visible rows. Not in the navigation.
 */
import { useState } from 'preact/hooks';
import { PageHeader } from '../components/Bits';
import { VirtualGrid } from '../components/VirtualGrid';
import { useLocation } from '../lib/router';

export function GridDemoPage() {
  const loc = useLocation();
  const n = Math.max(0, Math.min(10_000_000, Number(loc.query.get('n') ?? 100_000) || 0));
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [active, setActive] = useState(0);
  const [opened, setOpened] = useState<number | null>(null);
  const [range, setRange] = useState<[number, number]>([0, 0]);
  return (
    <div class="page page-fill">
      <PageHeader
        title="Virtual grid"
        subtitle={`${n.toLocaleString()} synthetic items · ${selected.size.toLocaleString()} selected · active ${(active + 1).toLocaleString()}${opened !== null ? ` · opened ${opened + 1}` : ''} · rendering ${range[0] + 1}–${range[1] + 1}`}
      />
      <VirtualGrid
        count={n}
        itemWidth={150}
        itemHeight={150}
        gap={10}
        label="Synthetic items"
        selected={selected}
        onSelectionChange={setSelected}
        onActiveChange={setActive}
        onActivate={setOpened}
        onRangeChange={(a, b) => setRange([a, b])}
        renderItem={(i) => (
          <div class="demo-item">
            <div class="demo-swatch" style={{ background: `hsl(${(i * 37) % 360} 55% 62%)` }} aria-hidden="true" />
            <span>Item {(i + 1).toLocaleString()}</span>
          </div>
        )}
      />
    </div>
  );
}
