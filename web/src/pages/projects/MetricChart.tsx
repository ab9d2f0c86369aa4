/*
 * MetricChart.tsx - one metric of one or more experiments as a LineChart,
 * fed with downsampled views from the API.
 *
 * It asks `GET /experiments/{id}/points?name=&points=W&method=` for each
 * experiment, W being the plot's width in pixels, so a chart costs the same
 * whether the series has 2,000 or 1,000,000 points. When the user zooms or
 * pans, it asks again for the new step range (debounced, the previous request
 * aborted), padded by a quarter of the range on each side with as many more
 * points: lines then run to the edges, and a short pan draws real points at
 * once. Nothing is fetched before the chart scrolls into view.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { LineChart, type ChartSeries, type Range } from '../../components/LineChart';
import { api, ApiError, errorMessage, isAbort } from '../../lib/api';
import type { SeriesView } from '../../lib/tracking';

export interface ChartSource {
  experimentId: number;
  key: string;
  label: string;
  color: string;
}

const PAD = 0.25;
const MAX_POINTS = 10_000; // the API's bound for a view

/** The request for one view: the whole series, or the range padded. */
export function viewQuery(view: Range | null, domain: Range | null, width: number) {
  const w = Math.max(50, Math.min(4000, Math.round(width)));
  if (!view) return { points: w };
  const span = view[1] - view[0];
  let from = Math.floor(view[0] - span * PAD);
  let to = Math.ceil(view[1] + span * PAD);
  if (domain) {
    from = Math.max(from, domain[0]);
    to = Math.min(to, domain[1]);
  }
  from = Math.max(0, from);
  return { from, to, points: Math.min(MAX_POINTS, Math.max(w, Math.round((w * (to - from)) / Math.max(1, span)))) };
}

export function MetricChart(props: {
  metric: string;
  sources: ChartSource[];
  /** The step range of the metric over all sources (null: not known). */
  domain: Range | null;
  /** Changes to re-read the current view (a running experiment's new points). */
  refresh?: number;
  height?: number;
}) {
  const box = useRef<HTMLElement>(null);
  const [visible, setVisible] = useState(false);
  const [view, setView] = useState<Range | null>(null);
  const [width, setWidth] = useState(0);
  const [method, setMethod] = useState<'minmax' | 'lttb'>('minmax');
  const [data, setData] = useState<Map<string, SeriesView>>(new Map());
  const [missing, setMissing] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const loaded = useRef(false);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) {
        setVisible(true);
        io.disconnect();
      }
    }, { rootMargin: '200px' });
    io.observe(el);
    return () => io.disconnect();
  }, []);

  const sourcesKey = props.sources.map((s) => `${s.experimentId}:${s.key}`).join(',');
  /* whole-pixel widths in steps of 50 px: a resize by a few pixels does not re-fetch */
  const reqWidth = Math.ceil(width / 50) * 50;

  useEffect(() => {
    if (!visible || reqWidth <= 0) return;
    const ac = new AbortController();
    const q = viewQuery(view, props.domain, reqWidth);
    const run = async () => {
      setBusy(true);
      const gone: string[] = [];
      const results = await Promise.all(
        props.sources.map((s) =>
          api
            .get<SeriesView>(`/experiments/${s.experimentId}/points`, { name: props.metric, method, ...q }, ac.signal)
            .then((v) => [s.key, v] as const)
            .catch((e) => {
              if (e instanceof ApiError && e.status === 404) {
                gone.push(s.label);
                return null;
              }
              throw e;
            }),
        ),
      );
      if (ac.signal.aborted) return;
      setData(new Map(results.filter((r): r is readonly [string, SeriesView] => r !== null)));
      setMissing(gone);
      setError(null);
      setBusy(false);
      loaded.current = true;
    };
    /* the first view at once; zooming and panning settle first */
    const t = window.setTimeout(() => {
      run().catch((e) => {
        if (ac.signal.aborted || isAbort(e)) return;
        setError(errorMessage(e));
        setBusy(false);
      });
    }, loaded.current ? 150 : 0);
    return () => {
      window.clearTimeout(t);
      ac.abort();
    };
  }, [visible, props.metric, sourcesKey, view?.[0], view?.[1], reqWidth, method, props.refresh, props.domain?.[0], props.domain?.[1]]);

  const series = useMemo<ChartSeries[]>(
    () =>
      props.sources
        .filter((s) => data.has(s.key) || !loaded.current)
        .map((s) => {
          const v = data.get(s.key);
          return { key: s.key, label: s.label, color: s.color, steps: v?.steps ?? [], values: v?.values ?? [] };
        }),
    [data, sourcesKey],
  );

  let total = 0;
  let got = 0;
  let down = false;
  for (const v of data.values()) {
    total += v.total;
    got += v.steps.length;
    down ||= v.downsampled;
  }
  const id = `metric-${props.metric.replace(/[^A-Za-z0-9_-]/g, '_')}-${sourcesKey.replace(/[^0-9,]/g, '').slice(0, 40)}`;
  return (
    <section ref={box} class="card metric-card" aria-labelledby={id} data-metric={props.metric}>
      {error && (
        <p class="error-box" role="alert">
          {error}
        </p>
      )}
      <LineChart
        title={props.metric}
        heading={
          <h3 id={id} class="metric-title">
            {props.metric}
          </h3>
        }
        series={series}
        domain={props.domain}
        view={view}
        onView={setView}
        onWidth={setWidth}
        height={props.height}
        busy={busy}
        tools={
          <label class="chart-check">
            <span class="sr-only">Downsampling</span>
            <select value={method} onChange={(e) => setMethod((e.target as HTMLSelectElement).value as 'minmax' | 'lttb')} title="How long series are reduced to the chart's width">
              <option value="minmax">min/max</option>
              <option value="lttb">LTTB</option>
            </select>
          </label>
        }
        note={
          loaded.current && (
            <>
              <span data-testid="chart-count">{got.toLocaleString('en-US')}</span> of {total.toLocaleString('en-US')} points loaded for this range
              {down ? ` (downsampled, ${method === 'lttb' ? 'LTTB' : 'min/max'})` : ''}
              {missing.length > 0 && ` · no '${props.metric}' in ${missing.join(', ')}`}
            </>
          )
        }
      />
    </section>
  );
}
