/*
 * Evaluation.tsx - /projects/{pid}/experiments/{xid}/evaluations/{id}: one
 * evaluation of an experiment.
 *
 *   summary     the 12 COCO numbers (keypoints: 10) and the counts at the
 *               run's thresholds with the error breakdown; classification:
 *               accuracy, precision/recall/F1 (macro, weighted), top-k, ECE,
 *               AUC
 *   PR curves   per label, precision over the 101 recall points (IoU 0.5, or
 *               averaged over 0.5:0.95), LineChart; a per-label table
 *   confusion   Heatmap; a cell opens the list of its images (?cell=r,c)
 *   images      thumbnails of the per-image results with filters (has FP,
 *               has FN, IoU below, label, score range) and orders (worst
 *               first...), keyset pages; one opens the image view (?image=)
 *
 * Everything shown is in the URL (filters, cell, image), so a view can be
 * shared. The record is re-read every 1.5 s while a run is queued/running.
 */
import { useState } from 'preact/hooks';
import { PageHeader, StateBadge } from '../../components/Bits';
import { Dialog } from '../../components/Dialog';
import { BarList, Heatmap } from '../../components/Heatmap';
import { LineChart, type Range } from '../../components/LineChart';
import { DataTable, ErrorBox } from '../../components/Table';
import { toast } from '../../components/Toasts';
import { api, errorMessage } from '../../lib/api';
import { formatTime } from '../../lib/format';
import { useInterval, useLoad } from '../../lib/hooks';
import { startedJob } from '../../lib/jobs';
import { can } from '../../lib/roles';
import { setQuery, useLocation } from '../../lib/router';
import { currentMe } from '../../lib/session';
import { colorOf, type Experiment } from '../../lib/tracking';
import type { Job } from '../../lib/types';
import { count, DET_STAT_LABELS, KP_STAT_LABELS, metric, type CellPage, type Confusion, type EvalImage, type Evaluation, type ImagesPage, type PrCurves } from './evaluation';
import { ImageView } from './ImageView';
import '../projects/projects.css';
import './evaluation.css';

export function EvaluationPage({ params }: { params: Record<string, string> }) {
  const id = Number(params.id);
  const loc = useLocation();
  const me = currentMe();
  const ev = useLoad((signal) => api.get<Evaluation>(`/evaluations/${id}`, undefined, signal), [id]);
  const exp = useLoad((signal) => api.get<Experiment>(`/experiments/${params.xid}`, undefined, signal), [params.xid]);
  const e = ev.data;
  const running = !!e && (e.status === 'queued' || e.status === 'running');
  const [runTick, setRunTick] = useState(0);
  useInterval(
    () =>
      api.get<Evaluation>(`/evaluations/${id}`).then(
        (x) => {
          ev.setData(x);
          if (x.status !== 'queued' && x.status !== 'running') setRunTick((t) => t + 1);
        },
        () => undefined,
      ),
    1500,
    running,
  );
  const crumbs = [
    { href: '/projects', label: 'Projects' },
    { href: `/projects/${params.pid}`, label: `Project ${params.pid}` },
    { href: `/projects/${params.pid}/experiments/${params.xid}/evaluations`, label: exp.data?.name ?? `Experiment ${params.xid}` },
  ];
  if (ev.error && !e)
    return (
      <div class="page">
        <PageHeader title={`Evaluation ${id}`} crumbs={crumbs} />
        <ErrorBox message={ev.error} onRetry={ev.reload} />
      </div>
    );
  const evaluate = async () => {
    try {
      const job = await api.post<Job>(`/evaluations/${id}/evaluate`, {});
      startedJob(job);
      ev.reload();
    } catch (err) {
      toast(errorMessage(err), { kind: 'error' });
    }
  };
  const image = loc.query.get('image');
  const ready = !!e?.summary;
  const key = `${id}-${e?.evaluated_at ?? ''}-${runTick}`;
  return (
    <div class="page">
      <PageHeader
        title={e ? e.name : `Evaluation ${id}`}
        crumbs={crumbs}
        subtitle={
          e ? (
            <span class="exp-subtitle">
              <span data-testid="ev-status">
                <StateBadge state={e.status} />
              </span>
              <span>
                {e.task} on {e.dataset} / {e.dataset_version} · {count(e.predictions, 'prediction')} on {count(e.predicted_assets, 'image')}
                {e.evaluated_at ? ` · evaluated ${formatTime(e.evaluated_at)}` : ''}
              </span>
              {e.stale && <span class="tag">predictions changed since</span>}
            </span>
          ) : (
            'Loading…'
          )
        }
        actions={
          e &&
          can(me?.role, 'write') && (
            <button type="button" class="button" onClick={evaluate} disabled={running}>
              {running ? 'Evaluating…' : e.summary ? 'Evaluate again' : 'Evaluate'}
            </button>
          )
        }
      />
      {e?.status === 'failed' && e.error && (
        <div class="error-box" role="alert">
          The last run failed: {e.error}
          {e.summary ? ' The results below are from the run before.' : ''}
        </div>
      )}
      {e && !ready && !running && e.status !== 'failed' && <p class="muted">No results yet: upload predictions, then evaluate.</p>}
      {running && <p class="muted">Evaluating… {e?.progress !== undefined ? `${Math.round((e.progress ?? 0) * 100)}%` : ''}</p>}
      {e && ready && (
        <div key={key}>
          <Summary e={e} />
          {e.task === 'classification' ? <ClassTable id={id} /> : <PrCard id={id} />}
          <ConfusionCard id={id} e={e} />
          <ImagesCard id={id} e={e} />
        </div>
      )}
      {e && image && (
        <Dialog open title={`Image ${image}`} wide onClose={() => setQuery({ image: null })}>
          <ImageView evalId={id} asset={Number(image)} task={e.task} />
        </Dialog>
      )}
    </div>
  );
}

function Summary({ e }: { e: Evaluation }) {
  const s = e.summary!;
  if (s.metrics) {
    const m = s.metrics;
    const rows: [string, number | undefined][] = [
      ['Accuracy', m.accuracy],
      [`Top-${s.top_k ?? 5} accuracy`, m.top_k_accuracy],
      ['Macro precision', m.macro_precision],
      ['Macro recall', m.macro_recall],
      ['Macro F1', m.macro_f1],
      ['Weighted F1', m.weighted_f1],
      ['Expected calibration error', m.ece],
      ['Macro ROC AUC', m.macro_auc],
      ['Macro AP', m.macro_ap],
    ];
    return (
      <section class="card" aria-labelledby="ev-sum">
        <h2 id="ev-sum">Summary</h2>
        <dl class="facts ev-stats" data-testid="ev-summary">
          {rows.map(([k, v]) => [<dt key={k}>{k}</dt>, <dd key={`${k}v`}>{metric(v)}</dd>])}
          <dt>Images</dt>
          <dd>{(s.items ?? 0).toLocaleString('en-US')} scored of {s.images.toLocaleString('en-US')}</dd>
        </dl>
      </section>
    );
  }
  const labels = s.iou_type === 'keypoints' ? KP_STAT_LABELS : DET_STAT_LABELS;
  const d = s.detail;
  const errs = d ? Object.entries(d.errors) : [];
  return (
    <div class="two-col ev-two">
      <section class="card" aria-labelledby="ev-sum">
        <h2 id="ev-sum">Summary</h2>
        <table class="table ev-stats" data-testid="ev-summary">
          <caption class="sr-only">COCO summary metrics</caption>
          <tbody>
            {(s.stats ?? []).map((v, i) => (
              <tr key={i}>
                <th scope="row">
                  <code>{labels[i]}</code>
                </th>
                <td class="num">{metric(v)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section class="card" aria-labelledby="ev-err">
        <h2 id="ev-err">Errors</h2>
        {d && (
          <>
            <p>
              At IoU ≥ {d.iou_thr} and score ≥ {d.score_thr}: <strong>{d.tp.toLocaleString('en-US')}</strong> true positives, <strong>{d.fp.toLocaleString('en-US')}</strong> false
              positives, <strong>{d.fn.toLocaleString('en-US')}</strong> missed ground truths, over {count(s.images, 'image')}.
            </p>
            <BarList caption="Error types" labels={errs.map(([k]) => k)} values={errs.map(([, v]) => v)} />
            <p class="muted">Types after TIDE: each false positive gets the first that fits (background, duplicate, localization, classification, both); missed counts the false negatives no error points at.</p>
          </>
        )}
      </section>
    </div>
  );
}

function PrCard({ id }: { id: number }) {
  const pr = useLoad((signal) => api.get<PrCurves>(`/evaluations/${id}/pr-curves`, undefined, signal), [id]);
  const [which, setWhich] = useState<'precision50' | 'precision'>('precision50');
  const [view, setView] = useState<Range | null>(null);
  if (pr.error) return <ErrorBox message={pr.error} onRetry={pr.reload} />;
  if (!pr.data) return <p class="muted">Loading…</p>;
  const defined = pr.data.labels.filter((l) => (l.metrics.AP ?? -1) >= 0);
  const steps = pr.data.recall.map((r) => Math.round(r * 100));
  const series = defined.map((l, i) => ({
    key: l.label,
    label: `${l.label} (AP${which === 'precision50' ? '50' : ''} ${metric(which === 'precision50' ? l.metrics.AP50 : l.metrics.AP)})`,
    color: colorOf(i),
    steps,
    values: (l[which] ?? []).map((v) => (v < 0 ? NaN : v)),
  }));
  return (
    <section class="card" aria-labelledby="ev-pr">
      <LineChart
        title="Precision-recall curves"
        heading={<h2 id="ev-pr">Precision-recall curves</h2>}
        series={series}
        domain={[0, 100]}
        view={view}
        onView={setView}
        height={280}
        note={<span class="muted">x: recall (%), y: interpolated precision at maxDets 100, area all.</span>}
        tools={
          <label class="chart-check">
            <span class="sr-only">IoU threshold</span>
            <select value={which} onChange={(ev) => setWhich((ev.target as HTMLSelectElement).value as 'precision50' | 'precision')} aria-label="IoU threshold">
              <option value="precision50">IoU 0.50</option>
              <option value="precision">IoU 0.50:0.95 (mean)</option>
            </select>
          </label>
        }
      />
      <DataTable
        caption="Per-label results"
        rows={pr.data.labels}
        rowKey={(l) => l.label_id}
        columns={[
          { header: 'Label', cell: (l) => l.label },
          { header: 'Ground truths', class: 'num', cell: (l) => l.metrics.ground_truths },
          { header: 'Predictions', class: 'num', cell: (l) => l.metrics.predictions },
          { header: 'AP', class: 'num', cell: (l) => metric(l.metrics.AP) },
          { header: 'AP50', class: 'num', cell: (l) => metric(l.metrics.AP50) },
          { header: 'AP75', class: 'num', cell: (l) => metric(l.metrics.AP75) },
          { header: 'AR100', class: 'num', cell: (l) => metric(l.metrics.AR100) },
          { header: 'TP', class: 'num', cell: (l) => l.metrics.tp },
          { header: 'FP', class: 'num', cell: (l) => l.metrics.fp },
          { header: 'FN', class: 'num', cell: (l) => l.metrics.fn },
        ]}
      />
    </section>
  );
}

function ClassTable({ id }: { id: number }) {
  const pr = useLoad((signal) => api.get<PrCurves>(`/evaluations/${id}/pr-curves`, undefined, signal), [id]);
  if (pr.error) return <ErrorBox message={pr.error} onRetry={pr.reload} />;
  if (!pr.data) return <p class="muted">Loading…</p>;
  return (
    <section class="card" aria-labelledby="ev-cls">
      <h2 id="ev-cls">Per class</h2>
      <DataTable
        caption="Per-class results"
        rows={pr.data.labels}
        rowKey={(l) => l.label_id}
        columns={[
          { header: 'Class', cell: (l) => l.label },
          { header: 'Support', class: 'num', cell: (l) => l.metrics.support },
          { header: 'Predicted', class: 'num', cell: (l) => l.metrics.predicted },
          { header: 'Precision', class: 'num', cell: (l) => metric(l.metrics.precision) },
          { header: 'Recall', class: 'num', cell: (l) => metric(l.metrics.recall) },
          { header: 'F1', class: 'num', cell: (l) => metric(l.metrics.f1) },
          { header: 'ROC AUC', class: 'num', cell: (l) => metric(l.metrics.AUC) },
          { header: 'AP', class: 'num', cell: (l) => metric(l.metrics.AP) },
        ]}
      />
    </section>
  );
}

function ConfusionCard({ id, e }: { id: number; e: Evaluation }) {
  const cm = useLoad((signal) => api.get<Confusion>(`/evaluations/${id}/confusion`, undefined, signal), [id]);
  const loc = useLocation();
  const cell = loc.query.get('cell');
  if (cm.error) return <ErrorBox message={cm.error} onRetry={cm.reload} />;
  if (!cm.data) return <p class="muted">Loading…</p>;
  const [r, c] = cell ? cell.split(',').map(Number) : [NaN, NaN];
  return (
    <section class="card" aria-labelledby="ev-cm">
      <h2 id="ev-cm">Confusion matrix</h2>
      <p class="muted">
        Rows are ground truth, columns predictions{e.task === 'classification' ? '' : '; background collects unmatched predictions (last row) and missed objects (last column)'}. Click a cell for its images.
      </p>
      <Heatmap
        caption="Confusion matrix: rows are ground-truth labels, columns predicted labels"
        rows={cm.data.labels}
        columns={cm.data.labels}
        matrix={cm.data.matrix}
        rowTitle="truth"
        columnTitle="predicted"
        normalizable
        onCell={(row, col) => setQuery({ cell: `${row},${col}` })}
      />
      {cell && Number.isFinite(r) && Number.isFinite(c) && <CellImages id={id} row={r} col={c} />}
    </section>
  );
}

function Thumb({ dataId, label, onOpen, children }: { dataId: number | null; label: string; onOpen: () => void; children?: preact.ComponentChildren }) {
  return (
    <button type="button" class="ev-thumb" onClick={onOpen} aria-label={label}>
      {dataId !== null ? <img src={`/api/v1/data/${dataId}/thumbnail`} alt="" loading="lazy" /> : <span class="ev-thumb-missing">removed</span>}
      <span class="ev-thumb-info">{children}</span>
    </button>
  );
}

function CellImages({ id, row, col }: { id: number; row: number; col: number }) {
  const [more, setMore] = useState<CellPage['items']>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const page = useLoad(
    (signal) =>
      api.get<CellPage>(`/evaluations/${id}/confusion/${row}/${col}`, { limit: 60 }, signal).then((p) => {
        setMore([]);
        setCursor(p.next_cursor);
        return p;
      }),
    [id, row, col],
  );
  if (page.error) return <ErrorBox message={page.error} onRetry={page.reload} />;
  if (!page.data) return <p class="muted">Loading…</p>;
  const p = page.data;
  const items = [...p.items, ...more];
  const loadMore = async () => {
    if (!cursor) return;
    const n = await api.get<CellPage>(`/evaluations/${id}/confusion/${row}/${col}`, { limit: 60, cursor });
    setMore((m) => [...m, ...n.items]);
    setCursor(n.next_cursor);
  };
  return (
    <div class="ev-cell" data-testid="ev-cell">
      <div class="card-title-row">
        <h3>
          Truth {p.row_label}, predicted {p.col_label}: {p.count.toLocaleString('en-US')} in {count(p.assets, 'image')}
          {p.truncated ? ' (the 1,000 with the most are kept)' : ''}
        </h3>
        <button type="button" class="button button-small" onClick={() => setQuery({ cell: null })}>
          Close
        </button>
      </div>
      <div class="ev-grid">
        {items.map((it) => (
          <Thumb key={it.asset_id} dataId={it.data_id} label={`Image ${it.filename ?? it.asset_id}, ${it.count} in this cell`} onOpen={() => setQuery({ image: String(it.asset_id) })}>
            {it.filename ?? `asset ${it.asset_id}`} · {it.count}
          </Thumb>
        ))}
      </div>
      {cursor && (
        <button type="button" class="button" onClick={loadMore}>
          Load more
        </button>
      )}
    </div>
  );
}

const ORDERS = [
  ['worst', 'Worst first (FP + FN)'],
  ['fp', 'Most false positives'],
  ['fn', 'Most missed'],
  ['iou', 'Lowest IoU'],
  ['score', 'Most confident false positive'],
  ['asset', 'Asset order'],
];

function ImagesCard({ id, e }: { id: number; e: Evaluation }) {
  const loc = useLocation();
  const q = loc.query;
  const labels = useLoad((signal) => api.get<Confusion>(`/evaluations/${id}/confusion`, undefined, signal), [id]);
  const filters = {
    has_fp: q.get('has_fp') ?? '',
    has_fn: q.get('has_fn') ?? '',
    iou_below: q.get('iou_below') ?? '',
    label: q.get('label') ?? '',
    min_score: q.get('min_score') ?? '',
    max_score: q.get('max_score') ?? '',
    order_by: q.get('order_by') ?? 'worst',
  };
  const fkey = JSON.stringify(filters);
  const [more, setMore] = useState<EvalImage[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const page = useLoad(
    (signal) => {
      const query: Record<string, string | number> = { limit: 60 };
      for (const [k, v] of Object.entries(filters)) if (v !== '') query[k] = v;
      return api.get<ImagesPage>(`/evaluations/${id}/images`, query, signal).then((p) => {
        setMore([]);
        setCursor(p.next_cursor);
        return p;
      });
    },
    [id, fkey],
  );
  const loadMore = async () => {
    if (!cursor) return;
    const query: Record<string, string | number> = { limit: 60, cursor };
    for (const [k, v] of Object.entries(filters)) if (v !== '') query[k] = v;
    const n = await api.get<ImagesPage>(`/evaluations/${id}/images`, query);
    setMore((m) => [...m, ...n.items]);
    setCursor(n.next_cursor);
  };
  const set = (k: string) => (ev: Event) => setQuery({ [k]: (ev.target as HTMLInputElement).value || null });
  const items = [...(page.data?.items ?? []), ...more];
  const cls = e.task === 'classification';
  return (
    <section class="card" aria-labelledby="ev-img">
      <div class="card-title-row">
        <h2 id="ev-img">Images</h2>
        <span class="muted" data-testid="ev-total">
          {page.data?.total !== undefined ? count(page.data.total, 'image') : ''}
        </span>
      </div>
      <div class="filters" role="group" aria-label="Image filters">
        <label>
          False positives
          <select value={filters.has_fp} onChange={set('has_fp')} aria-label="False positives">
            <option value="">any</option>
            <option value="1">some</option>
            <option value="0">none</option>
          </select>
        </label>
        <label>
          Missed (FN)
          <select value={filters.has_fn} onChange={set('has_fn')} aria-label="Missed (FN)">
            <option value="">any</option>
            <option value="1">some</option>
            <option value="0">none</option>
          </select>
        </label>
        {!cls && (
          <label>
            IoU below
            <input type="number" min="0" max="1" step="0.05" value={filters.iou_below} onChange={set('iou_below')} style={{ width: '6em' }} />
          </label>
        )}
        <label>
          Label
          <select value={filters.label} onChange={set('label')} aria-label="Label">
            <option value="">any</option>
            {(labels.data?.labels ?? []).filter((l) => l !== 'background').map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <label>
          Score from
          <input type="number" min="0" max="1" step="0.05" value={filters.min_score} onChange={set('min_score')} style={{ width: '6em' }} />
        </label>
        <label>
          to
          <input type="number" min="0" max="1" step="0.05" value={filters.max_score} onChange={set('max_score')} style={{ width: '6em' }} />
        </label>
        <label>
          Order
          <select value={filters.order_by} onChange={set('order_by')} aria-label="Order">
            {ORDERS.map(([v, t]) => (
              <option key={v} value={v}>
                {t}
              </option>
            ))}
          </select>
        </label>
      </div>
      {page.error && <ErrorBox message={page.error} onRetry={page.reload} />}
      <div class="ev-grid" data-testid="ev-images">
        {items.map((it) => (
          <Thumb
            key={it.asset_id}
            dataId={it.data_id}
            label={`Image ${it.filename ?? it.asset_id}: ${it.tp} TP, ${it.fp} FP, ${it.fn} FN`}
            onOpen={() => setQuery({ image: String(it.asset_id) })}
          >
            <span class="ev-counts">
              <span class="ev-c-tp">{it.tp}</span> <span class="ev-c-fp">{it.fp}</span> <span class="ev-c-fn">{it.fn}</span>
            </span>
            {it.worst_error ? ` ${it.worst_error}` : ''}
          </Thumb>
        ))}
      </div>
      {page.data && !items.length && <p class="muted">No image matches these filters.</p>}
      {cursor && (
        <button type="button" class="button" onClick={loadMore}>
          Load more
        </button>
      )}
    </section>
  );
}
