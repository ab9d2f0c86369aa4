/*
 * Compare.tsx - /projects/{pid}/compare?ids=1,2,3: experiments side by side.
 *
 * Parameters as a diff table (rows that differ are marked, and by default
 * only those are shown), latest metrics in one table, and a chart per
 * metric with one series per experiment, overlaid on the same step axis.
 * Each series is a downsampled view of its own (MetricChart), re-read on
 * zoom like on the experiment page; the tooltip gives every experiment's
 * value at the step under the pointer.
 */
import { useMemo, useState } from 'preact/hooks';
import { PageHeader, StateBadge } from '../../components/Bits';
import type { Range } from '../../components/LineChart';
import { ErrorBox } from '../../components/Table';
import { api } from '../../lib/api';
import { useInterval, useLoad } from '../../lib/hooks';
import { setQuery, useLocation } from '../../lib/router';
import { colorOf, expActive, expHref, formatValue, paramText, type Experiment, type Project } from '../../lib/tracking';
import { groupByPrefix, metricDomain } from './ExperimentMetrics';
import { MetricChart, type ChartSource } from './MetricChart';
import './projects.css';

export function ComparePage({ params }: { params: Record<string, string> }) {
  const loc = useLocation();
  const ids = [...new Set((loc.query.get('ids') ?? '').split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0))].slice(0, 50);
  const key = ids.join(',');
  const project = useLoad((signal) => api.get<Project>(`/projects/${params.pid}`, undefined, signal), [params.pid]);
  const exps = useLoad((signal) => Promise.all(ids.map((id) => api.get<Experiment>(`/experiments/${id}`, undefined, signal))), [key]);
  const [onlyDiff, setOnlyDiff] = useState(true);
  const [filter, setFilter] = useState('');

  const list = exps.data ?? [];
  /* statuses and metric lists of running experiments move live */
  useInterval(
    () => {
      Promise.all(ids.map((id) => api.get<Experiment>(`/experiments/${id}`))).then(exps.setData, () => {
        /* next tick */
      });
    },
    3000,
    list.some((e) => expActive(e.status)),
  );
  const sources = useMemo<ChartSource[]>(() => {
    const names = new Map<string, number>();
    for (const e of list) names.set(e.name, (names.get(e.name) ?? 0) + 1);
    return list.map((e, i) => ({
      experimentId: e.id,
      key: String(e.id),
      label: (names.get(e.name) ?? 0) > 1 ? `${e.name} #${e.id}` : e.name,
      color: colorOf(i),
    }));
  }, [exps.data]);

  const paramRows = useMemo(() => {
    const names = [...new Set(list.flatMap((e) => Object.keys(e.params)))].sort();
    return names.map((n) => {
      const vals = list.map((e) => (n in e.params ? JSON.stringify(e.params[n]) : undefined));
      return { name: n, differs: vals.some((v) => v !== vals[0]) };
    });
  }, [exps.data]);

  const metrics = useMemo(() => {
    const m = new Map<string, Range>();
    for (const e of list)
      for (const x of e.metrics) {
        const d = metricDomain(x);
        const o = m.get(x.name);
        m.set(x.name, o ? [Math.min(o[0], d[0]), Math.max(o[1], d[1])] : d);
      }
    return [...m.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, domain]) => ({ name, domain }));
  }, [exps.data]);

  const crumbs = [
    { href: '/projects', label: 'Projects' },
    { href: `/projects/${params.pid}`, label: project.data?.name ?? `Project ${params.pid}` },
  ];
  if (ids.length < 2)
    return (
      <div class="page">
        <PageHeader title="Compare experiments" crumbs={crumbs} />
        <p>
          Pick two or more experiments in the <a href={`/projects/${params.pid}`}>experiment table</a> (the checkboxes), then choose Compare.
        </p>
      </div>
    );

  const shownParams = onlyDiff ? paramRows.filter((r) => r.differs) : paramRows;
  const f = filter.trim().toLowerCase();
  const shownMetrics = metrics.filter((m) => !f || m.name.toLowerCase().includes(f));
  const remove = (id: number) => setQuery({ ids: ids.filter((x) => x !== id).join(',') });

  return (
    <div class="page">
      <PageHeader title={`Compare ${ids.length} experiments`} crumbs={crumbs} />
      {exps.error && <ErrorBox message={exps.error} onRetry={exps.reload} />}
      {!exps.data && !exps.error && <p class="muted">Loading…</p>}
      {exps.data && (
        <>
          <ul class="compare-runs" aria-label="Experiments compared">
            {list.map((e, i) => (
              <li key={e.id} class="compare-run">
                <span class="swatch" style={{ background: sources[i].color }} aria-hidden="true" />
                <a href={expHref(e)} class="strong-link">
                  {sources[i].label}
                </a>
                <StateBadge state={e.status} />
                {ids.length > 2 && (
                  <button type="button" class="icon-button" aria-label={`Remove ${e.name} from the comparison`} onClick={() => remove(e.id)}>
                    ×
                  </button>
                )}
              </li>
            ))}
          </ul>

          <section class="card" aria-labelledby="cmp-params">
            <div class="card-title-row">
              <h2 id="cmp-params">Parameters</h2>
              <label class="chart-check">
                <input type="checkbox" checked={onlyDiff} onChange={(ev) => setOnlyDiff((ev.target as HTMLInputElement).checked)} />
                Only differences ({paramRows.filter((r) => r.differs).length} of {paramRows.length})
              </label>
            </div>
            <div class="table-wrap">
              <table class="table diff-table" data-testid="param-diff">
                <caption class="sr-only">Parameters of the compared experiments; rows marked “differs” have different values</caption>
                <thead>
                  <tr>
                    <th scope="col">Parameter</th>
                    {list.map((e, i) => (
                      <th key={e.id} scope="col">
                        <span class="swatch" style={{ background: sources[i].color }} aria-hidden="true" /> {sources[i].label}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {shownParams.length === 0 && (
                    <tr>
                      <td colSpan={list.length + 1} class="table-empty">
                        {paramRows.length ? 'Every parameter has the same value in all of them.' : 'No parameters were logged.'}
                      </td>
                    </tr>
                  )}
                  {shownParams.map((r) => (
                    <tr key={r.name} class={r.differs ? 'row-differs' : undefined} data-param={r.name}>
                      <th scope="row" class="mono">
                        {r.name}
                        {r.differs && <span class="differs">differs</span>}
                      </th>
                      {list.map((e) => (
                        <td key={e.id} class="mono">
                          {r.name in e.params ? paramText(e.params[r.name]) : <span class="muted">not set</span>}
                        </td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>

          {metrics.length > 0 && (
            <section class="card" aria-labelledby="cmp-latest">
              <h2 id="cmp-latest">Latest metrics</h2>
              <div class="table-wrap">
                <table class="table">
                  <caption class="sr-only">Latest value of each metric</caption>
                  <thead>
                    <tr>
                      <th scope="col">Metric</th>
                      {list.map((e, i) => (
                        <th key={e.id} scope="col" class="num">
                          {sources[i].label}
                        </th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {metrics.map((m) => (
                      <tr key={m.name}>
                        <th scope="row" class="mono">
                          {m.name}
                        </th>
                        {list.map((e) => {
                          const x = e.metrics.find((y) => y.name === m.name);
                          return (
                            <td key={e.id} class="num mono" title={x ? `step ${x.last_step}` : undefined}>
                              {x ? formatValue(x.last) : <span class="muted">—</span>}
                            </td>
                          );
                        })}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </section>
          )}

          <div class="filters">
            <label>
              Find a metric
              <input type="search" value={filter} onInput={(ev) => setFilter((ev.target as HTMLInputElement).value)} />
            </label>
          </div>
          {metrics.length === 0 && <p class="muted">None of these experiments logged metrics.</p>}
          {groupByPrefix(shownMetrics).map(([g, ms]) => (
            <section key={g} aria-label={g ? `Metrics under ${g}/` : 'Metrics'}>
              {g && <h2 class="metric-group">{g}/</h2>}
              <div class="chart-grid">
                {ms.map((m) => (
                  <MetricChart key={m.name} metric={m.name} sources={sources} domain={m.domain} refresh={list.reduce((n, e) => n + (e.metrics.find((y) => y.name === m.name)?.count ?? 0), 0)} />
                ))}
              </div>
            </section>
          ))}
        </>
      )}
    </div>
  );
}
