/*
 * ExperimentMetrics.tsx - the Metrics tab: a zoomable chart per metric,
 * grouped by the prefix before the first "/" (val/acc, val/loss -> "val"),
 * with a name filter. Charts load when they scroll into view; while the
 * experiment runs, each re-reads its view when the record says new points
 * arrived.
 */
import { useMemo, useState } from 'preact/hooks';
import type { Range } from '../../components/LineChart';
import { colorOf, type Experiment, type MetricInfo } from '../../lib/tracking';
import { MetricChart } from './MetricChart';

export function metricDomain(m: Pick<MetricInfo, 'first_step' | 'last_step' | 'max_step'>): Range {
  return [m.first_step, Math.max(m.last_step, m.max_step ?? m.last_step)];
}

export function groupByPrefix<T extends { name: string }>(items: T[]): [string, T[]][] {
  const groups = new Map<string, T[]>();
  for (const it of items) {
    const i = it.name.indexOf('/');
    const g = i > 0 ? it.name.slice(0, i) : '';
    groups.set(g, [...(groups.get(g) ?? []), it]);
  }
  return [...groups.entries()].sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b)));
}

export function MetricsTab({ e }: { e: Experiment }) {
  const [filter, setFilter] = useState('');
  const f = filter.trim().toLowerCase();
  const metrics = useMemo(() => e.metrics.filter((m) => !f || m.name.toLowerCase().includes(f)), [e.metrics, f]);
  const groups = groupByPrefix(metrics);
  const sources = useMemo(() => [{ experimentId: e.id, key: String(e.id), label: e.name, color: colorOf(0) }], [e.id, e.name]);
  if (!e.metrics.length)
    return (
      <section class="card">
        <p class="muted">
          No metrics yet. A script logs them with <code>exp.log_metric("loss", value, step)</code>; they appear here as charts.
        </p>
      </section>
    );
  return (
    <>
      <div class="filters">
        <label>
          Find a metric
          <input type="search" value={filter} onInput={(ev) => setFilter((ev.target as HTMLInputElement).value)} />
        </label>
        <p class="muted filters-note">
          Drag across a chart to zoom, Shift+drag to pan, Ctrl+scroll to zoom, double click to reset. Each view is re-read at the chart's width.
        </p>
      </div>
      {metrics.length === 0 && <p class="muted">No metric name contains “{filter}”.</p>}
      {groups.map(([g, ms]) => (
        <section key={g} aria-label={g ? `Metrics under ${g}/` : 'Metrics'}>
          {groups.length > 1 && <h2 class="metric-group">{g ? `${g}/` : 'other'}</h2>}
          <div class="chart-grid">
            {ms.map((m) => (
              <MetricChart
                key={m.name}
                metric={m.name}
                sources={sources}
                domain={metricDomain(m)}
                refresh={m.count}
              />
            ))}
          </div>
        </section>
      ))}
    </>
  );
}
