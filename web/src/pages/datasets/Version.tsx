/*
 * Version.tsx - /datasets/:did/versions/:vid: a version's images in a
 * virtual grid with their annotations drawn over the thumbnails, filtered by
 * label, status, split and the asset query language, with the version's
 * statistics beside them; the version's actions (annotate, add images,
 * labels, split, import, export, fork, lock) and bulk actions on a
 * selection (asset tags, remove from the version).
 *
 * The filters live in the URL (?q=&label=&status=&split=&order=) and are
 * combined into one asset query, which the page cache (vbrowse.ts) lists in
 * keyset pages with their shapes (?shapes=1). The annotation tool steps
 * through the same list.
 *
 * Drawing over thumbnails: each cell's thumbnail fills its box with
 * object-fit: contain, and an SVG of the same box with viewBox = the
 * image's size in pixels and preserveAspectRatio="xMidYMid meet" lies on
 * top: both scale the image the same way, so the shapes (in image pixels)
 * land on the right pixels without any arithmetic of ours.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Empty, PageHeader } from '../../components/Bits';
import { confirmDialog, Dialog } from '../../components/Dialog';
import { FormError, TextField, useForm } from '../../components/Form';
import { QueryForm } from '../../components/QueryBar';
import { ErrorBox } from '../../components/Table';
import { toast } from '../../components/Toasts';
import { VirtualGrid, type GridSelect } from '../../components/VirtualGrid';
import { ApiError, errorMessage } from '../../lib/api';
import { parseTags, quoteValue } from '../../lib/datalake';
import { annotateUrl, datasets, plural, STATUSES, versions, type ApiShape, type Asset, type AssetSelector, type Label, type Version } from '../../lib/datasets';
import { formatTime } from '../../lib/format';
import { useLoad } from '../../lib/hooks';
import { can } from '../../lib/roles';
import { processHref } from '../../lib/processing';
import { navigate, setQuery, useLocation } from '../../lib/router';
import { currentMe } from '../../lib/session';
import { PreAnnotateDialog } from './PreAnnotate';
import { AddImagesDialog, ExportDialog, ForkDialog, ImportDialog, LabelsDialog, SplitDialog } from './dialogs';
import { StatsPanel } from './Stats';
import { NONE, vbrowseFor, type Selection } from './vbrowse';
import './datasets.css';

const ORDERS = [
  { value: 'id', label: 'Order added' },
  { value: '-id', label: 'Newest first' },
  { value: 'filename', label: 'File name A–Z' },
  { value: '-filename', label: 'File name Z–A' },
];

const EXAMPLES = ['label = car and objects >= 3', 'status = null', 'annotated = false', 'tag = train', 'label in (cat, dog)', 'author = alice', 'data.width >= 1024', 'data.tag = night', 'updated > "2026-01-01"'];

const IDS_MAX = 10_000;

/** The filters of the page as one asset query. */
export function combineQuery(q: string, label: string, status: string, split: string): string {
  const parts: string[] = [];
  if (q.trim()) parts.push(q.trim());
  if (label) parts.push(`label = ${quoteValue(label)}`);
  if (status) parts.push(status === 'none' ? 'status = null' : `status = ${status}`);
  if (split) parts.push(`tag = ${quoteValue(split)}`);
  if (parts.length > 1 && q.trim()) parts[0] = `(${parts[0]})`;
  return parts.join(' and ');
}

export function VersionPage({ params }: { params: Record<string, string> }) {
  const did = Number(params.did);
  const vid = Number(params.vid);
  const ver = useLoad((signal) => versions.get(vid, signal), [vid]);
  const ds = useLoad((signal) => datasets.get(did, signal), [did]);
  if (ver.error && !ver.data)
    return (
      <div class="page">
        <PageHeader title="Version not found" crumbs={[{ href: '/datasets', label: 'Datasets' }]} />
        <ErrorBox message={ver.error} onRetry={ver.reload} />
      </div>
    );
  if (!ver.data || !ds.data)
    return (
      <div class="page">
        <PageHeader title="Loading…" crumbs={[{ href: '/datasets', label: 'Datasets' }]} />
      </div>
    );
  if (ver.data.dataset_id !== did) {
    navigate(`/datasets/${ver.data.dataset_id}/versions/${vid}`, { replace: true });
    return null;
  }
  return <VersionView key={vid} version={ver.data} dataset={ds.data} onChanged={ver.reload} setVersion={ver.setData} />;
}

function VersionView({ version: v, dataset, onChanged, setVersion }: { version: Version; dataset: import('../../lib/datasets').Dataset; onChanged: () => void; setVersion: (v: Version) => void }) {
  const loc = useLocation();
  const me = currentMe();
  const canWrite = can(me?.role, 'write') && !v.locked;
  const canAnnotate = can(me?.role, 'annotate');
  const q = loc.query.get('q') ?? '';
  const label = loc.query.get('label') ?? '';
  const status = loc.query.get('status') ?? '';
  const split = loc.query.get('split') ?? '';
  const order = loc.query.get('order') || 'id';
  const showStats = loc.query.get('stats') !== '0';
  const fq = combineQuery(q, label, status, split);
  const vb = useMemo(() => vbrowseFor(v.id, fq, order), [v.id, fq, order]);
  const cache = vb.cache;
  const [returning, setReturning] = useState(() => {
    const r = vb.returning;
    vb.returning = false;
    return r;
  });
  const [, setTick] = useState(0);
  useEffect(() => {
    const un = cache.subscribe(() => setTick(cache.version));
    setTick(cache.version); /* what changed before this effect ran (a quick count) */
    return un;
  }, [vb]);

  const labels = useLoad((signal) => versions.labels(v.id, signal), [v.id]);
  const tags = useLoad((signal) => versions.tags(v.id, signal), [v.id]);
  const [statsTick, setStatsTick] = useState(0);
  const stats = useLoad((signal) => (showStats ? versions.stats(v.id, signal) : Promise.resolve(undefined)), [v.id, showStats, statsTick]);
  const byName = useMemo(() => new Map((labels.data ?? []).map((l) => [l.name, l])), [labels.data]);

  /* back from the annotation tool after saving: read the pages, counts and stats again
     (also when the tool's last save lands after this page is shown) */
  useEffect(() => {
    const fresh = () => {
      if (!vb.stale) return;
      vb.stale = false;
      cache.refresh();
      setStatsTick((t) => t + 1);
      onChanged();
      labels.reload();
    };
    fresh();
    vb.onStale = fresh;
    return () => {
      if (vb.onStale === fresh) vb.onStale = undefined;
    };
  }, [vb]);

  const [draft, setDraft] = useState(q);
  useEffect(() => setDraft(q), [q]);
  const [queryError, setQueryError] = useState<{ q: string; message: string } | null>(null);
  const [sel, setSelState] = useState<Selection>(vb.sel);
  const setSel = (s: Selection) => {
    vb.sel = s;
    setSelState(s);
  };
  useEffect(() => setSelState(vb.sel), [vb]);
  const [dialog, setDialog] = useState<null | 'fork' | 'split' | 'import' | 'export' | 'labels' | 'add' | 'tag' | 'untag' | 'preann'>(null);
  const search = useRef<HTMLInputElement | null>(null);
  const shownError = queryError ?? (cache.errorStatus === 400 && cache.error ? { q, message: cache.error } : null);

  const changed = () => {
    cache.reset();
    setStatsTick((t) => t + 1);
    onChanged();
    labels.reload();
    tags.reload();
  };

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      const typing = t.closest('input, textarea, select, [contenteditable], dialog');
      if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
        e.preventDefault();
        search.current?.focus();
        search.current?.select();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  const submitQuery = async (text: string) => {
    const t = text.trim();
    if (t === q) {
      setQueryError(null);
      cache.reset();
      return;
    }
    try {
      await versions.count(v.id, combineQuery(t, label, status, split));
      setQueryError(null);
      setQuery({ q: t });
    } catch (e) {
      if (e instanceof ApiError && e.status === 400) setQueryError({ q: text, message: e.message });
      else toast(errorMessage(e), { kind: 'error' });
    }
  };

  const count = cache.count;
  /* back from an image, the grid takes the focus when it first shows; not again when a
     filter remounts it (a new key): that took the focus from the query box being typed in */
  useEffect(() => {
    if (returning && count) setReturning(false);
  }, [returning, count]);
  const selCount = sel.all ? (count ?? 0) : sel.ids.size;
  const selector = (): AssetSelector => (sel.all ? { q: fq } : { ids: [...sel.ids] });
  const isSelected = (i: number) => {
    if (sel.all) return true;
    const it = cache.get(i);
    return !!it && sel.ids.has(it.id);
  };
  const onSelect = async (a: GridSelect) => {
    try {
      if (a.kind === 'only' || a.kind === 'toggle') {
        const it = cache.get(a.index);
        if (!it) return;
        if (a.kind === 'only') return setSel({ all: false, ids: new Set([it.id]) });
        let ids: Set<number>;
        if (sel.all) {
          if ((count ?? 0) > IDS_MAX) return toast(`All ${count!.toLocaleString()} matches are selected; narrow the filter to leave some out.`);
          ids = new Set((await cache.collect(0, (count ?? 1) - 1)).map((x) => x.id));
        } else ids = new Set(sel.ids);
        if (ids.has(it.id)) ids.delete(it.id);
        else ids.add(it.id);
        return setSel({ all: false, ids });
      }
      if (a.kind === 'range') {
        const lo = Math.min(a.from, a.to), hi = Math.max(a.from, a.to);
        if (hi - lo + 1 > IDS_MAX) return toast(`A selection by hand holds up to ${IDS_MAX.toLocaleString()} images; use “Select all matching” instead.`, { kind: 'error' });
        const got = await cache.collect(lo, hi);
        const ids = new Set(a.additive && !sel.all ? sel.ids : []);
        for (const x of got) ids.add(x.id);
        return setSel({ all: false, ids });
      }
      if (a.kind === 'all') return count ? setSel({ all: true }) : undefined;
      setSel(NONE);
    } catch (e) {
      if ((e as Error).name !== 'AbortError') toast(errorMessage(e), { kind: 'error' });
    }
  };

  const open = (i: number) => {
    const it = cache.get(i);
    if (!it) return;
    vb.active = i;
    vb.returning = true;
    vb.listUrl = window.location.pathname + window.location.search;
    navigate(annotateUrl(dataset.id, v.id, it.id) + (fq ? `?q=${encodeURIComponent(fq)}` : ''));
  };

  const removeSelected = async () => {
    const n = selCount;
    const ok = await confirmDialog({
      title: `Remove ${plural(n, 'image')} from ${v.name}?`,
      message: `Their annotations in “${v.name}” go with them. The images stay in the datalake and in other versions.`,
      confirmLabel: 'Remove',
      danger: true,
    });
    if (!ok) return;
    try {
      const r = await versions.removeAssets(v.id, selector());
      toast(`Removed ${plural(r.removed, 'image')} from “${v.name}”.`, { kind: 'success' });
      setSel(NONE);
      changed();
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    }
  };

  const lock = async (on: boolean) => {
    if (!on) {
      const ok = await confirmDialog({
        title: `Unlock ${v.name}?`,
        message: `Locked${v.locked_by ? ` by ${v.locked_by}` : ''}${v.locked_at ? ` on ${formatTime(v.locked_at)}` : ''}. Unlocked, it can change again; to change a copy instead, fork it.`,
        confirmLabel: 'Unlock',
      });
      if (!ok) return;
    }
    try {
      setVersion(await (on ? versions.lock(v.id) : versions.unlock(v.id)));
      toast(on ? `“${v.name}” is locked.` : `“${v.name}” is unlocked.`, { kind: 'success' });
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    }
  };

  const splitNames = (tags.data ?? []).map((t) => t.name);
  const matching = count === null ? '…' : count.toLocaleString();
  const describeSel = sel.all ? `all ${plural(selCount, 'image')}${fq ? ' matching the filter' : ''}` : plural(selCount, 'selected image');

  return (
    <div class="page page-fill version-page">
      <PageHeader
        crumbs={[
          { href: '/datasets', label: 'Datasets' },
          { href: `/datasets/${dataset.id}?v=${v.id}`, label: dataset.name },
        ]}
        title={v.name}
        subtitle={
          <>
            {v.task} · {plural(v.assets, 'image')} · {v.annotated.toLocaleString()} annotated · {plural(v.labels, 'label')} · {plural(v.shapes, 'object')}
            {v.locked && (
              <span class="badge badge-locked badge-inline" data-testid="locked">
                locked{v.locked_by ? ` by ${v.locked_by}` : ''}
              </span>
            )}
          </>
        }
        actions={
          <>
            <button type="button" class="button button-primary" disabled={!count} onClick={() => open(Math.min(vb.active, (count ?? 1) - 1))}>
              {v.locked || !canAnnotate ? 'View' : 'Annotate'}
            </button>
            {canWrite && (
              <button type="button" class="button" onClick={() => setDialog('add')}>
                Add images…
              </button>
            )}
            <button type="button" class="button" onClick={() => setDialog('labels')}>
              Labels…
            </button>
            {canWrite && (
              <button type="button" class="button" onClick={() => setDialog('split')}>
                Split…
              </button>
            )}
            {canWrite && (
              <button type="button" class="button" onClick={() => setDialog('import')}>
                Import…
              </button>
            )}
            <button type="button" class="button" onClick={() => setDialog('export')}>
              Export…
            </button>
            {canWrite && (
              <button type="button" class="button" onClick={() => setDialog('preann')} title="Pending annotations predicted by a trained model">
                Pre-annotate…
              </button>
            )}
            {can(me?.role, 'write') && (
              <a class="button" href={processHref(`dataset-version:${v.id}`, sel, fq)} title="Run a processing on the selected images (or, with none, every image matching the filter)">
                Run a processing…
              </a>
            )}
            {can(me?.role, 'write') && (
              <>
                <button type="button" class="button" onClick={() => setDialog('fork')}>
                  Fork…
                </button>
                <button type="button" class="button" onClick={() => void lock(!v.locked)}>
                  {v.locked ? 'Unlock…' : 'Lock'}
                </button>
              </>
            )}
          </>
        }
      />
      <QueryForm
        value={draft}
        onChange={setDraft}
        onSubmit={(x) => void submitQuery(x)}
        complete={(text, cursor, signal) => versions.autocomplete(v.id, text, cursor, signal)}
        error={shownError}
        label="Filter with the query language"
        placeholder="Filter: label = car and objects >= 3   (press / to focus)"
        inputRef={search}
      >
        <button type="submit" class="button">
          Filter
        </button>
        <details class="dl-help">
          <summary>Syntax</summary>
          <div class="dl-help-body">
            <p>Asset fields, then every datalake field under data. Examples:</p>
            <ul>
              {EXAMPLES.map((x) => (
                <li key={x}>
                  <code>{x}</code>
                </li>
              ))}
            </ul>
          </div>
        </details>
      </QueryForm>
      <div class="filters vs-filters" role="group" aria-label="Filters">
        <label>
          Label
          <select value={label} onChange={(e) => setQuery({ label: (e.target as HTMLSelectElement).value || null })}>
            <option value="">any</option>
            {(labels.data ?? []).map((l) => (
              <option key={l.id} value={l.name}>
                {l.name} ({l.images.toLocaleString()})
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select value={status} onChange={(e) => setQuery({ status: (e.target as HTMLSelectElement).value || null })}>
            <option value="">any</option>
            <option value="none">not annotated</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Split / tag
          <select value={split} onChange={(e) => setQuery({ split: (e.target as HTMLSelectElement).value || null })}>
            <option value="">any</option>
            {splitNames.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Order
          <select value={order} onChange={(e) => setQuery({ order: (e.target as HTMLSelectElement).value === 'id' ? null : (e.target as HTMLSelectElement).value })}>
            {ORDERS.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </label>
        {(q || label || status || split) && (
          <button
            type="button"
            class="button button-link"
            onClick={() => {
              setQueryError(null);
              setQuery({ q: null, label: null, status: null, split: null });
            }}
          >
            Clear filters
          </button>
        )}
        <span class="dl-spacer" />
        <label class="check vs-stats-toggle">
          <input type="checkbox" checked={showStats} onChange={(e) => setQuery({ stats: (e.target as HTMLInputElement).checked ? null : '0' })} />
          <span>Statistics</span>
        </label>
      </div>
      <div class="dl-toolbar" role="group" aria-label="Selection">
        <span class="dl-count" aria-live="polite" data-testid="match-count">
          {fq ? `${matching} matching` : `${matching} image${count === 1 ? '' : 's'}`}
        </span>
        <span class="dl-sel" data-testid="selection-count">
          {selCount ? (sel.all ? `All ${selCount.toLocaleString()} selected` : `${selCount.toLocaleString()} selected`) : 'None selected'}
        </span>
        {!!count && !sel.all && (
          <button type="button" class="button button-small" onClick={() => setSel({ all: true })}>
            Select all {count.toLocaleString()}
          </button>
        )}
        {selCount > 0 && (
          <button type="button" class="button button-small" onClick={() => setSel(NONE)}>
            Clear selection
          </button>
        )}
        {canWrite && (
          <>
            <span class="dl-sep" aria-hidden="true" />
            <button type="button" class="button button-small" disabled={!selCount} onClick={() => setDialog('tag')}>
              Tag…
            </button>
            <button type="button" class="button button-small" disabled={!selCount} onClick={() => setDialog('untag')}>
              Untag…
            </button>
            <button type="button" class="button button-small button-danger-quiet" disabled={!selCount} onClick={removeSelected}>
              Remove from version…
            </button>
          </>
        )}
      </div>
      {cache.error && cache.errorStatus !== 400 && <ErrorBox message={cache.error} onRetry={() => cache.retry()} />}
      <div class={'vs-body' + (showStats ? ' vs-body-stats' : '')}>
        <div class="dl-body">
          {count === 0 ? (
            fq ? (
              <Empty title="Nothing matches these filters">
                <p>Change the filters, or clear them to see every image.</p>
              </Empty>
            ) : (
              <Empty title="This version has no images yet">
                <p>Add images from the datalake by query, or select them on the Datalake page and choose “Create dataset version”. An import brings images and annotations together.</p>
                {canWrite && (
                  <button type="button" class="button button-primary" onClick={() => setDialog('add')}>
                    Add images…
                  </button>
                )}
              </Empty>
            )
          ) : count === null ? (
            !cache.error && <p class="muted dl-loading">Loading…</p>
          ) : (
            <VirtualGrid
              key={vb.key}
              count={count}
              itemWidth={210}
              itemHeight={232}
              gap={10}
              overscan={2}
              label="Images of the version"
              class="dl-grid vs-grid"
              initialActive={vb.active}
              focusOnMount={returning}
              onActiveChange={(i) => (vb.active = i)}
              onRangeChange={(a, b) => cache.want(a, b)}
              isSelected={isSelected}
              onSelect={(a) => void onSelect(a)}
              hasSelection={selCount > 0}
              onActivate={open}
              cellProps={(i) => {
                const it = cache.get(i);
                return {
                  'aria-label': it ? `${it.filename}, ${it.annotation ? `${it.annotation.status}, ${plural(it.annotation.objects, 'object')}` : 'not annotated'}` : 'Loading',
                  'data-id': it ? String(it.id) : undefined,
                };
              }}
              renderItem={(i, st) => <AssetCell asset={cache.get(i)} byName={byName} selected={st.selected} fast={st.fast} onToggle={() => void onSelect({ kind: 'toggle', index: i })} />}
            />
          )}
        </div>
        {showStats && (
          <aside class="card vs-stats" aria-label="Statistics">
            {stats.error && <ErrorBox message={stats.error} onRetry={stats.reload} />}
            {stats.data ? <StatsPanel stats={stats.data} labels={labels.data ?? []} compact /> : !stats.error && <p class="muted">Loading…</p>}
          </aside>
        )}
      </div>
      {dialog === 'fork' && <ForkDialog version={v} q={fq} onClose={() => setDialog(null)} onForked={(f) => navigate(`/datasets/${f.dataset_id}/versions/${f.id}`)} />}
      {dialog === 'split' && <SplitDialog version={v} q={fq} onClose={() => setDialog(null)} onDone={changed} />}
      {dialog === 'import' && <ImportDialog version={v} onClose={() => setDialog(null)} onDone={changed} />}
      {dialog === 'preann' && <PreAnnotateDialog version={v} q={fq} onClose={() => setDialog(null)} onDone={changed} />}
      {dialog === 'export' && <ExportDialog version={v} q={fq} onClose={() => setDialog(null)} />}
      {dialog === 'labels' && <LabelsDialog version={v} onClose={() => setDialog(null)} onChanged={() => { labels.reload(); onChanged(); }} />}
      {dialog === 'add' && <AddImagesDialog version={v} dataset={dataset} onClose={() => setDialog(null)} onDone={changed} />}
      {(dialog === 'tag' || dialog === 'untag') && (
        <AssetTagDialog
          mode={dialog}
          version={v}
          describe={describeSel}
          selector={selector()}
          known={splitNames}
          onClose={() => setDialog(null)}
          onDone={() => {
            if (split || /\btag\b/.test(q)) cache.reset();
            else cache.refresh();
            tags.reload();
            setStatsTick((t) => t + 1);
          }}
        />
      )}
    </div>
  );
}

/* Thumbnails already shown (in this tab): shown even while flinging. */
const shownThumbs = new Set<number>();

function AssetCell({ asset: a, byName, selected, fast, onToggle }: { asset: Asset | undefined; byName: Map<string, Label>; selected: boolean; fast: boolean; onToggle: () => void }) {
  if (!a) return <div class="thumb thumb-loading" />;
  const img = !fast || shownThumbs.has(a.data_id);
  if (img) {
    if (shownThumbs.size > 20_000) shownThumbs.clear();
    shownThumbs.add(a.data_id);
  }
  const shapes = a.shapes ?? [];
  const classes = shapes.filter((s) => s.kind === 'class');
  const st = a.annotation?.status ?? 'none';
  return (
    <div class="thumb vs-thumb">
      <div class="thumb-img vs-thumb-img">
        {img && <img src={`/api/v1/data/${a.data_id}/thumbnail`} alt="" loading="lazy" decoding="async" draggable={false} />}
        {img && shapes.length > classes.length && <Overlay asset={a} shapes={shapes} byName={byName} />}
      </div>
      <div class="thumb-caption">
        <span class="thumb-name" title={a.filename}>
          {a.filename}
        </span>
        <span class={`status-dot st-${st}`} title={st === 'none' ? 'not annotated' : st} aria-hidden="true" />
        {a.annotation && <span class="thumb-dims">{a.annotation.objects}</span>}
      </div>
      {(a.tags.length > 0 || classes.length > 0) && (
        <div class="thumb-tags">
          {a.tags.slice(0, 3).map((t) => (
            <span key={t} class="chip chip-small">
              {t}
            </span>
          ))}
          {classes.slice(0, 3).map((c, i) => (
            <span key={'c' + i} class="chip chip-small chip-class" style={{ borderColor: byName.get(c.label)?.color }}>
              {c.label}
            </span>
          ))}
        </div>
      )}
      <span
        class={'thumb-check' + (selected ? ' thumb-check-on' : '')}
        aria-hidden="true"
        onClick={(e) => {
          e.stopPropagation();
          onToggle();
        }}
      >
        ✓
      </span>
    </div>
  );
}

const MAX_DRAWN = 200;

/** The shapes of an asset as SVG over its thumbnail (image pixel coordinates). */
function Overlay({ asset, shapes, byName }: { asset: Asset; shapes: ApiShape[]; byName: Map<string, Label> }) {
  const r = Math.max(asset.width, asset.height) / 70;
  const els = [];
  let n = 0;
  for (const s of shapes) {
    if (n >= MAX_DRAWN) break;
    const color = byName.get(s.label)?.color ?? '#e040fb';
    const dash = s.score !== undefined && s.score !== null ? '4 3' : undefined;
    const common = { stroke: color, 'stroke-dasharray': dash, 'vector-effect': 'non-scaling-stroke', 'stroke-width': 1.6 } as Record<string, unknown>;
    switch (s.kind) {
      case 'box':
        if (s.box) els.push(<rect key={n} x={s.box[0]} y={s.box[1]} width={s.box[2]} height={s.box[3]} fill={color} fill-opacity={0.12} {...common} />);
        break;
      case 'polygon': {
        const rings = s.rings ?? (s.points ? [s.points] : []);
        const d = rings.map((p) => 'M' + pairs(p).join('L') + 'Z').join('');
        els.push(<path key={n} d={d} fill={color} fill-opacity={0.15} fill-rule="evenodd" {...common} />);
        break;
      }
      case 'polyline':
        if (s.points) els.push(<polyline key={n} points={pairs(s.points).join(' ')} fill="none" {...common} />);
        break;
      case 'point':
        if (s.point) els.push(<circle key={n} cx={s.point[0]} cy={s.point[1]} r={r} fill={color} />);
        break;
      case 'keypoints': {
        const k = s.keypoints ?? [];
        const sk = byName.get(s.label)?.skeleton ?? [];
        const lines = sk
          .filter(([a, b]) => k[(a - 1) * 3 + 2] > 0 && k[(b - 1) * 3 + 2] > 0)
          .map(([a, b]) => `M${k[(a - 1) * 3]},${k[(a - 1) * 3 + 1]}L${k[(b - 1) * 3]},${k[(b - 1) * 3 + 1]}`)
          .join('');
        els.push(
          <g key={n}>
            {lines && <path d={lines} fill="none" {...common} />}
            {Array.from({ length: Math.floor(k.length / 3) }, (_, i) => (k[3 * i + 2] > 0 ? <circle key={i} cx={k[3 * i]} cy={k[3 * i + 1]} r={r * 0.7} fill={color} /> : null))}
          </g>,
        );
        break;
      }
      case 'mask':
        if (s.bbox) els.push(<rect key={n} x={s.bbox[0]} y={s.bbox[1]} width={s.bbox[2]} height={s.bbox[3]} fill="none" {...common} stroke-dasharray="2 2" />);
        break;
    }
    n++;
  }
  return (
    <svg class="vs-overlay" viewBox={`0 0 ${asset.width} ${asset.height}`} preserveAspectRatio="xMidYMid meet" aria-hidden="true" data-shapes={shapes.length}>
      {els}
    </svg>
  );
}

function pairs(p: number[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < p.length; i += 2) out.push(`${p[i]},${p[i + 1]}`);
  return out;
}

function AssetTagDialog(p: { mode: 'tag' | 'untag'; version: Version; describe: string; selector: AssetSelector; known: string[]; onClose: () => void; onDone: () => void }) {
  const adding = p.mode === 'tag';
  const [selector] = useState(p.selector);
  const form = useForm(
    { tags: '' },
    async (x) => {
      const names = parseTags(x.tags);
      if (!names.length) throw new Error('Give at least one tag.');
      const r = await versions.tag(p.version.id, selector, adding ? names : [], adding ? [] : names);
      toast(`${adding ? 'Tagged' : 'Untagged'} ${p.describe} (${plural(r.changed, 'change')}).`, { kind: 'success' });
      p.onDone();
      p.onClose();
    },
    { required: ['tags'] },
  );
  const chosen = new Set(parseTags(form.values.tags));
  const toggle = (n: string) => {
    const xs = parseTags(form.values.tags);
    form.set('tags', (xs.includes(n) ? xs.filter((y) => y !== n) : [...xs, n]).join(', '));
  };
  const offer = [...new Set([...p.known, 'train', 'val', 'test'])];
  return (
    <Dialog open title={adding ? 'Tag images' : 'Remove tags'} onClose={p.onClose}>
      <form onSubmit={form.onSubmit} noValidate aria-label={adding ? 'Tag images' : 'Remove tags'}>
        <p>
          {adding ? 'Add version tags to ' : 'Remove version tags from '}
          <strong>{p.describe}</strong>. Tags of a version (splits are tags) do not touch the datalake's tags.
        </p>
        <TextField form={form} name="tags" label={adding ? 'Tags to add' : 'Tags to remove'} autofocus hint="Separate tags with commas." autoComplete="off" />
        <div class="tag-offer" role="group" aria-label="Known tags">
          {offer.map((n) => (
            <button key={n} type="button" class={'chip chip-button' + (chosen.has(n) ? ' chip-on' : '')} aria-pressed={chosen.has(n)} onClick={() => toggle(n)}>
              {n}
            </button>
          ))}
        </div>
        <FormError message={form.formError} />
        <div class="dialog-actions">
          <button type="button" class="button" onClick={p.onClose}>
            Cancel
          </button>
          <button type="submit" class={adding ? 'button button-primary' : 'button button-danger'} disabled={form.submitting}>
            {adding ? 'Add tags' : 'Remove tags'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
