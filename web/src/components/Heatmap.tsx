/*
 * Heatmap.tsx - a matrix as a coloured table (heatmaps, confusion
 * matrices), and BarList, labelled values as horizontal bars.
 *
 * The heatmap is a real <table>: row and column labels are <th> with
 * scope, so a screen reader announces "actual dog, predicted cat, 4" as it
 * moves through the cells; colour only repeats what the numbers say. Values
 * are printed in the cells when the matrix is small enough to read them,
 * else only on hover (title, and the readout line above the table).
 * A confusion matrix can be shown as row percentages (recall per class).
 */
import { useState } from 'preact/hooks';

export interface HeatmapProps {
  caption: string;
  rows: string[];
  columns: string[];
  matrix: number[][];
  rowTitle?: string;
  columnTitle?: string;
  /** Offer "counts / % of row" (confusion matrices). */
  normalizable?: boolean;
  /** Makes cells buttons (click, Enter, Space): called with the row and column. */
  onCell?: (row: number, col: number) => void;
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return '—';
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return String(Number(v.toPrecision(4)));
}

export function Heatmap(p: HeatmapProps) {
  const [rowPct, setRowPct] = useState(false);
  const [hot, setHot] = useState<string | null>(null);
  const sums = p.matrix.map((r) => r.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0));
  const shown = (r: number, c: number) => {
    const v = p.matrix[r]?.[c] ?? NaN;
    return rowPct ? (sums[r] ? (100 * v) / sums[r] : 0) : v;
  };
  let lo = Infinity;
  let hi = -Infinity;
  p.matrix.forEach((row, r) =>
    row.forEach((_, c) => {
      const v = shown(r, c);
      if (Number.isFinite(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }),
  );
  const big = p.columns.length > 16 || p.rows.length > 40;
  const rt = p.rowTitle ?? 'row';
  const ct = p.columnTitle ?? 'column';
  const describe = (r: number, c: number) => {
    const v = p.matrix[r]?.[c] ?? NaN;
    const pct = sums[r] ? ` (${((100 * v) / sums[r]).toFixed(1)}% of the row)` : '';
    return `${rt} ${p.rows[r]}, ${ct} ${p.columns[c]}: ${fmt(v)}${p.normalizable ? pct : ''}`;
  };
  return (
    <div class="heatmap-wrap">
      <div class="heatmap-bar">
        {p.normalizable && (
          <label class="chart-check">
            <input type="checkbox" checked={rowPct} onChange={(e) => setRowPct((e.target as HTMLInputElement).checked)} />
            Show % of each row
          </label>
        )}
        <span class="muted heatmap-readout" aria-hidden="true">
          {hot ?? 'Point at a cell for its value.'}
        </span>
      </div>
      <div class="heatmap-scroll">
        <table class={big ? 'heatmap heatmap-big' : 'heatmap'} onMouseLeave={() => setHot(null)}>
          <caption class="sr-only">{p.caption}</caption>
          <thead>
            <tr>
              <th scope="col" class="heatmap-corner">
                <span class="heatmap-axis">
                  {rt} \ {ct}
                </span>
              </th>
              {p.columns.map((c, j) => (
                <th key={j} scope="col" class="heatmap-col">
                  <span>{c}</span>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {p.rows.map((rl, r) => (
              <tr key={r}>
                <th scope="row" class="heatmap-row">
                  {rl}
                </th>
                {p.columns.map((_, c) => {
                  const v = shown(r, c);
                  const t = hi > lo ? (v - lo) / (hi - lo) : v > 0 ? 1 : 0;
                  const text = rowPct ? `${v.toFixed(1)}%` : fmt(v);
                  return (
                    <td
                      key={c}
                      class={t > 0.55 ? 'heatmap-cell heatmap-dark' : 'heatmap-cell'}
                      style={{ '--t': Number.isFinite(t) ? t.toFixed(3) : '0' }}
                      title={describe(r, c)}
                      data-row={rl}
                      data-col={p.columns[c]}
                      onMouseEnter={() => setHot(describe(r, c))}
                      {...(p.onCell
                        ? {
                            role: 'button',
                            tabIndex: 0,
                            onClick: () => p.onCell?.(r, c),
                            onKeyDown: (ev: KeyboardEvent) => {
                              if (ev.key === 'Enter' || ev.key === ' ') {
                                ev.preventDefault();
                                p.onCell?.(r, c);
                              }
                            },
                          }
                        : {})}
                    >
                      <span class={big ? 'sr-only' : undefined}>{text}</span>
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

export function BarList({ labels, values, caption }: { labels: string[]; values: number[]; caption: string }) {
  const max = Math.max(0, ...values.filter(Number.isFinite));
  const min = Math.min(0, ...values.filter(Number.isFinite));
  const span = max - min || 1;
  return (
    <table class="barlist">
      <caption class="sr-only">{caption}</caption>
      <tbody>
        {labels.map((l, i) => (
          <tr key={i}>
            <th scope="row">{l}</th>
            <td class="barlist-bar">
              <span class="barlist-fill" style={{ width: `${(Math.abs(values[i]) / span) * 100}%` }} />
            </td>
            <td class="num">{fmt(values[i])}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
