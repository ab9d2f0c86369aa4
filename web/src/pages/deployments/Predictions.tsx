/*
 * Predictions.tsx - /deployments/:id/predictions?q=&status=&label=&min=&max=&from=&to=:
 * the predictions grid (thumbnail with the predicted boxes drawn over it, top
 * label and score, status), filtered with the query language (q, with
 * suggestions and the API's error under the box) and the API's filters, all
 * kept in the URL; keyset pages of 60 with "load more"; reviewed ones can be
 * selected and submitted.
 */
import { useEffect, useState } from 'preact/hooks';
import { PageHeader } from '../../components/Bits';
import { QueryForm } from '../../components/QueryBar';
import { LoadMore, ErrorBox } from '../../components/Table';
import { toast } from '../../components/Toasts';
import { ApiError, errorMessage } from '../../lib/api';
import { deploy, PRED_STATUSES, type PredFilter, type Prediction } from '../../lib/deploy';
import { formatTime } from '../../lib/format';
import { useKeysetList, useLoad } from '../../lib/hooks';
import { can } from '../../lib/roles';
import { setQuery, useLocation } from '../../lib/router';
import { currentMe } from '../../lib/session';
import type { PageProps } from '../../routes';
import { DeployTabs, fmtNum } from './bits';
import './deploy.css';

function toLocalInput(ms: string | null): string {
  if (!ms) return '';
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return '';
  const off = d.getTimezoneOffset() * 60000;
  return new Date(d.getTime() - off).toISOString().slice(0, 16);
}

/* A text or number filter kept in the URL, committed on change (Enter, or leaving the box).
   What is typed is its own state until then: with the URL's value as a controlled value, any
   render in between (a page of results or the deployment arriving) put the URL's value back
   into the box, and Enter then committed that instead of what was typed. */
function FilterInput(props: {
  type: 'text' | 'number';
  value: string;
  onCommit: (v: string) => void;
  placeholder?: string;
  step?: string;
  min?: string;
  max?: string;
}) {
  const { type, value, onCommit, ...rest } = props;
  const [draft, setDraft] = useState(value);
  useEffect(() => setDraft(value), [value]);
  return (
    <input
      {...rest}
      /* Preact's input types are split per type; both of ours take the same attributes */
      type={type as 'text'}
      value={draft}
      onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
      onChange={(e) => onCommit((e.target as HTMLInputElement).value)}
    />
  );
}

export function PredictionsPage({ params }: PageProps) {
  const id = Number(params.id);
  const loc = useLocation();
  const q = loc.query;
  const f: PredFilter = {
    q: q.get('q') || undefined,
    status: q.get('status') ?? undefined,
    label: q.get('label') ?? undefined,
    min_score: q.get('min') ?? undefined,
    max_score: q.get('max') ?? undefined,
    from: q.get('from') ? Number(q.get('from')) : undefined,
    to: q.get('to') ? Number(q.get('to')) : undefined,
    outlier: q.get('outlier') ?? undefined,
    out_of_range: q.get('oor') ?? undefined,
  };
  const key = JSON.stringify(f);
  const me = currentMe();
  const canReview = can(me?.role, 'annotate');
  const dep = useLoad((s) => deploy.get(id, s), [id]);
  const list = useKeysetList((cursor, signal) => deploy.predictions(id, f, cursor, signal), [id, key]);
  const [draft, setDraft] = useState(f.q ?? '');
  const [queryError, setQueryError] = useState<{ q: string; message: string } | null>(null);
  useEffect(() => setDraft(f.q ?? ''), [f.q]);
  /* a query is tried on one prediction first, so a syntax error stays under the box
     and the grid keeps the last good result */
  const submitQuery = async (text: string) => {
    const t = text.trim();
    if (t === (f.q ?? '')) {
      setQueryError(null);
      list.reload();
      return;
    }
    try {
      await deploy.predictions(id, { ...f, q: t || undefined }, null, undefined, 1);
      setQueryError(null);
      setQuery({ q: t || null });
    } catch (e) {
      if (e instanceof ApiError && e.status === 400) setQueryError({ q: text, message: e.message });
      else toast(errorMessage(e), { kind: 'error' });
    }
  };
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [busy, setBusy] = useState(false);
  const scoreErr = [f.min_score, f.max_score].some((x) => x !== undefined && (Number.isNaN(Number(x)) || Number(x) < 0 || Number(x) > 1))
    ? 'A score bound is a number from 0 to 1.'
    : null;
  const submit = async (ids?: number[]) => {
    setBusy(true);
    try {
      const r = await deploy.submit(id, ids);
      toast(`${r.submitted} review${r.submitted === 1 ? '' : 's'} submitted`);
      setSelected(new Set());
      list.reload();
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    } finally {
      setBusy(false);
    }
  };
  const reviewHref = (p: Prediction) => `/deployments/${id}/predictions/${p.id}${q.toString() ? '?' + q.toString() : ''}`;
  return (
    <div class="page">
      <PageHeader
        crumbs={[
          { href: '/deployments', label: 'Deployments' },
          { href: `/deployments/${id}`, label: dep.data?.name ?? 'Deployment' },
        ]}
        title={dep.data ? `${dep.data.name}: predictions` : 'Predictions'}
        actions={
          canReview && (
            <>
              <button type="button" class="button" disabled={busy || selected.size === 0} onClick={() => submit([...selected])}>
                Submit selected ({selected.size})
              </button>
              <button type="button" class="button button-primary" disabled={busy} onClick={() => submit()}>
                Submit all reviewed
              </button>
            </>
          )
        }
      />
      <DeployTabs d={dep.data} current="predictions" />
      <QueryForm
        value={draft}
        onChange={setDraft}
        onSubmit={(x) => void submitQuery(x)}
        complete={(text, cursor, signal) => deploy.autocomplete(id, text, cursor, signal)}
        error={queryError}
        label="Filter predictions with the query language"
        placeholder="Filter: label = car and score < 0.5 and status = to_review"
      >
        <button type="submit" class="button">
          Filter
        </button>
      </QueryForm>
      <form class="filters" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Status
          <select value={f.status ?? ''} onChange={(e) => setQuery({ status: (e.target as HTMLSelectElement).value || null })}>
            <option value="">any</option>
            {PRED_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.replace('_', ' ')}
              </option>
            ))}
          </select>
        </label>
        <label>
          Top label
          <FilterInput type="text" value={f.label ?? ''} placeholder="any" onCommit={(v) => setQuery({ label: v.trim() || null })} />
        </label>
        <label>
          Min score
          <FilterInput type="number" step="0.05" min="0" max="1" value={f.min_score ?? ''} onCommit={(v) => setQuery({ min: v || null })} />
        </label>
        <label>
          Max score
          <FilterInput type="number" step="0.05" min="0" max="1" value={f.max_score ?? ''} onCommit={(v) => setQuery({ max: v || null })} />
        </label>
        <label>
          From
          <input type="datetime-local" value={toLocalInput(q.get('from'))} onChange={(e) => {
            const v = (e.target as HTMLInputElement).value;
            setQuery({ from: v ? String(new Date(v).getTime()) : null });
          }} />
        </label>
        <label>
          To
          <input type="datetime-local" value={toLocalInput(q.get('to'))} onChange={(e) => {
            const v = (e.target as HTMLInputElement).value;
            setQuery({ to: v ? String(new Date(v).getTime()) : null });
          }} />
        </label>
        <label>
          Outlier
          <select value={f.outlier ?? ''} onChange={(e) => setQuery({ outlier: (e.target as HTMLSelectElement).value || null })}>
            <option value="">any</option>
            <option value="1">outliers only</option>
            <option value="0">not outliers</option>
          </select>
        </label>
        <label>
          Out of range
          <select value={f.out_of_range ?? ''} onChange={(e) => setQuery({ oor: (e.target as HTMLSelectElement).value || null })}>
            <option value="">any</option>
            <option value="1">out of range only</option>
            <option value="0">in range</option>
          </select>
        </label>
        {q.toString() && (
          <button type="button" class="button" onClick={() => setQuery({ q: null, status: null, label: null, min: null, max: null, from: null, to: null, outlier: null, oor: null })}>
            Clear filters
          </button>
        )}
      </form>
      {scoreErr && <div class="form-error" role="alert">{scoreErr}</div>}
      {list.error && <ErrorBox message={list.error} onRetry={list.reload} />}
      <p class="muted" aria-live="polite">
        {list.loading && !list.items.length ? 'Loading…' : `${list.items.length.toLocaleString('en-US')}${list.hasMore ? '+' : ''} prediction${list.items.length === 1 ? '' : 's'} shown`}
      </p>
      <ul class="pred-grid" aria-label="Predictions">
        {list.items.map((p) => (
          <li key={p.id} class="pred-cell" data-prediction={p.id}>
            {canReview && p.status === 'reviewed' && (
              <input
                class="pred-select"
                type="checkbox"
                aria-label={`Select prediction ${p.id}`}
                checked={selected.has(p.id)}
                onChange={(e) => {
                  const on = (e.target as HTMLInputElement).checked;
                  setSelected((s) => {
                    const n = new Set(s);
                    if (on) n.add(p.id);
                    else n.delete(p.id);
                    return n;
                  });
                }}
              />
            )}
            <a href={reviewHref(p)} class="pred-link" aria-label={`Prediction ${p.id}: ${p.top_label ?? 'nothing'}${p.top_score != null ? ' ' + p.top_score.toFixed(2) : ''}, ${p.status.replace('_', ' ')}`}>
              <Thumb p={p} />
              <span class="pred-caption">
                <span class="pred-label">
                  {p.top_label ?? <span class="muted">nothing</span>} {p.top_score != null && <span class="review-score">{p.top_score.toFixed(2)}</span>}
                </span>
                <span>
                  <span class={`badge badge-${p.status}`}>{p.status.replace('_', ' ')}</span> <span class="muted">{p.objects} obj · {fmtNum(p.latency_ms)} ms</span>
                </span>
                {(p.drift?.outlier || p.drift?.out_of_range) && (
                  <span>
                    {p.drift.outlier && <span class="badge badge-failed">outlier</span>} {p.drift.out_of_range && <span class="badge badge-to_review">out of range</span>}
                  </span>
                )}
                <span class="muted">{formatTime(p.at)}</span>
              </span>
            </a>
          </li>
        ))}
      </ul>
      {!list.loading && list.items.length === 0 && !list.error && <p class="table-empty">No prediction matches these filters.</p>}
      <LoadMore list={list} />
    </div>
  );
}

/** The thumbnail (when the image was stored) with the boxes drawn in image pixels. */
export function Thumb({ p }: { p: Prediction }) {
  const out = p.review ?? p.output;
  const w = p.features?.width ?? 0;
  const h = p.features?.height ?? 0;
  return (
    <span class="pred-thumb">
      {p.data_id ? <img src={`/api/v1/data/${p.data_id}/thumbnail`} alt="" loading="lazy" decoding="async" /> : <span class="muted">image not stored (sampled out)</span>}
      {w > 0 && h > 0 && (out?.boxes?.length ?? 0) > 0 && (
        <svg viewBox={`0 0 ${w} ${h}`} preserveAspectRatio="xMidYMid meet" aria-hidden="true">
          {out!.boxes!.slice(0, 200).map((b, i) => (
            <rect key={i} x={b.x} y={b.y} width={b.w} height={b.h} fill="none" stroke="#f59e0b" stroke-width="2" vector-effect="non-scaling-stroke" stroke-dasharray={b.score != null ? '4 3' : undefined} />
          ))}
        </svg>
      )}
    </span>
  );
}
