/*
 * Item.tsx - /datalake/data/:id: one image with everything known about it:
 * dimensions and file facts, camera and the whole EXIF, custom metadata
 * (editable), tags (add, remove), the dataset versions that use it (with
 * its annotation status there, a link to annotate it), and similar images
 * by perceptual hash.
 *
 * Opened from the datalake page, it steps through the same search:
 * Previous/Next (or the left and right arrow keys) use the kept page cache
 * (browse.ts), and Esc or the breadcrumb goes back to the list, on this item.
 */
import { Fragment } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { CopyButton, PageHeader } from '../../components/Bits';
import { confirmDialog } from '../../components/Dialog';
import { ErrorBox } from '../../components/Table';
import { toast } from '../../components/Toasts';
import { errorMessage } from '../../lib/api';
import { cameraName, items, lakes, parseTags } from '../../lib/datalake';
import { versionsUsing } from '../../lib/datasets';
import { formatBytes, formatCameraTime, formatTime } from '../../lib/format';
import { useLoad } from '../../lib/hooks';
import { can } from '../../lib/roles';
import { navigate } from '../../lib/router';
import { currentMe } from '../../lib/session';
import type { DataDetail, DataItem } from '../../lib/types';
import { currentBrowse } from './browse';

export function ItemPage({ params }: { params: Record<string, string> }) {
  const id = Number(params.id);
  const me = currentMe();
  const canWrite = can(me?.role, 'write');
  const item = useLoad((signal) => items.get(id, signal), [id]);
  const nav = useNeighbours(id);
  const d = item.data;
  const back = nav.listUrl ?? (d ? `/datalake?lake=${d.datalake_id}` : '/datalake');

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (t.closest('input, textarea, select, [contenteditable], dialog') || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === 'ArrowLeft' && nav.prev) nav.go(-1);
      else if (e.key === 'ArrowRight' && nav.next) nav.go(1);
      else if (e.key === 'Escape' && !e.defaultPrevented) navigate(back);
      else return;
      e.preventDefault();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [nav.prev, nav.next, back]);

  const changed = (next: DataDetail) => {
    item.setData(next);
    currentBrowse()?.cache.refresh();
  };

  const remove = async () => {
    if (!d) return;
    const ok = await confirmDialog({
      title: 'Delete this image?',
      message: `“${d.filename}” leaves the datalake with its tags and metadata. It cannot be undone.`,
      confirmLabel: 'Delete',
      danger: true,
    });
    if (!ok) return;
    try {
      await items.remove(d.id);
      toast(`Deleted “${d.filename}”.`, { kind: 'success' });
      currentBrowse()?.cache.reset();
      navigate(back);
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    }
  };

  return (
    <div class="page item-page">
      <PageHeader
        crumbs={[{ href: back, label: 'Datalake' }]}
        title={d?.filename ?? (item.error ? 'Image not found' : 'Loading…')}
        subtitle={d ? `${d.width} × ${d.height} px · ${d.format.toUpperCase()} · ${formatBytes(d.size)}` : undefined}
        actions={
          <>
            {nav.index !== null && (
              <span class="item-pos muted">
                {(nav.index + 1).toLocaleString()} of {(nav.count ?? 0).toLocaleString()}
              </span>
            )}
            <button type="button" class="button" disabled={!nav.prev} onClick={() => nav.go(-1)} aria-keyshortcuts="ArrowLeft">
              ← Previous
            </button>
            <button type="button" class="button" disabled={!nav.next} onClick={() => nav.go(1)} aria-keyshortcuts="ArrowRight">
              Next →
            </button>
            {d && (
              <a class="button" href={`${d.original_url}?download=1`} download>
                Download
              </a>
            )}
            {d && canWrite && (
              <button type="button" class="button button-danger-quiet" onClick={remove}>
                Delete…
              </button>
            )}
          </>
        }
      />
      {item.error && <ErrorBox message={item.error} onRetry={item.reload} />}
      {d && (
        <div class="item-layout">
          <div class="item-main">
            <Viewer item={d} />
            <Similar item={d} />
          </div>
          <div class="item-side">
            <Facts d={d} canWrite={canWrite} onChange={changed} />
            <Tags d={d} canWrite={canWrite} onChange={changed} />
            <Meta d={d} canWrite={canWrite} onChange={changed} />
            <VersionsUsing id={d.id} />
            <Exif d={d} />
          </div>
        </div>
      )}
    </div>
  );
}

/** Previous and next items of the search this item was opened from. */
function useNeighbours(id: number) {
  const b = currentBrowse();
  const [, setV] = useState(0);
  const inList = !!b && b.cache.get(b.active)?.id === id;
  useEffect(() => {
    if (!b || !inList) return;
    const un = b.cache.subscribe(() => setV(b.cache.version));
    b.cache.want(Math.max(0, b.active - 1), b.active + 1);
    return un;
  }, [b, inList, id]);
  if (!b || !inList) return { prev: null, next: null, index: null, count: null, listUrl: b?.listUrl ?? null, go: () => {} };
  const prev: DataItem | null = b.active > 0 ? (b.cache.get(b.active - 1) ?? null) : null;
  const next: DataItem | null = b.active + 1 < (b.cache.count ?? 0) ? (b.cache.get(b.active + 1) ?? null) : null;
  return {
    prev,
    next,
    index: b.active,
    count: b.cache.count,
    listUrl: b.listUrl,
    go: (step: number) => {
      const to = step < 0 ? prev : next;
      if (!to) return;
      b.active += step;
      navigate(`/datalake/data/${to.id}`, { replace: true });
    },
  };
}

function Viewer({ item }: { item: DataDetail }) {
  const [loaded, setLoaded] = useState(false);
  const [zoom, setZoom] = useState(false);
  /* browsers show JPEG, PNG, WebP and BMP; a TIFF shows as its thumbnail */
  const showable = item.format !== 'tiff';
  return (
    <figure class={'viewer' + (zoom ? ' viewer-zoom' : '')}>
      <div class="viewer-frame" style={{ aspectRatio: `${item.width} / ${item.height}` }}>
        <img class="viewer-thumb" src={item.thumbnail_url} alt="" aria-hidden="true" />
        {showable && (
          <img
            class={'viewer-img' + (loaded ? ' viewer-img-loaded' : '')}
            src={item.original_url}
            alt={item.filename}
            width={item.width}
            height={item.height}
            decoding="async"
            onLoad={() => setLoaded(true)}
            onClick={() => setZoom((z) => !z)}
            title={zoom ? 'Fit to the page' : 'Actual size'}
          />
        )}
      </div>
      <figcaption class="muted">
        {item.width} × {item.height} px as displayed{item.camera.orientation && item.camera.orientation > 1 ? ` (EXIF orientation ${item.camera.orientation} applied)` : ''}
        {showable ? ' · click the image for actual size' : ' · TIFF: shown as its thumbnail'}
      </figcaption>
    </figure>
  );
}

function Facts({ d, canWrite, onChange }: { d: DataDetail; canWrite: boolean; onChange: (x: DataDetail) => void }) {
  const cam = cameraName(d.camera);
  const c = d.camera;
  return (
    <section class="card" aria-labelledby="facts-title">
      <h2 id="facts-title">Image</h2>
      <dl class="facts item-facts" data-testid="item-facts">
        <dt>File name</dt>
        <dd>
          <EditableText value={d.filename} label="File name" canWrite={canWrite} onSave={async (v) => onChange(await items.patch(d.id, { filename: v }))} />
        </dd>
        <dt>Dimensions</dt>
        <dd data-testid="dimensions">
          {d.width} × {d.height} px
        </dd>
        <dt>Format</dt>
        <dd>
          {d.format.toUpperCase()}, {d.channels === 1 ? 'gray' : d.channels === 4 ? 'colour + alpha' : d.channels === 2 ? 'gray + alpha' : 'colour'}
        </dd>
        <dt>Size</dt>
        <dd>
          {formatBytes(d.size)} <span class="muted">({d.size.toLocaleString()} bytes)</span>
        </dd>
        <dt>Uploaded</dt>
        <dd>{formatTime(d.created_at)}</dd>
        <dt>Source</dt>
        <dd>
          <EditableText value={d.source ?? ''} label="Source" canWrite={canWrite} empty="—" onSave={async (v) => onChange(await items.patch(d.id, { source: v }))} />
        </dd>
        {cam && (
          <>
            <dt>Camera</dt>
            <dd data-testid="camera">{cam}</dd>
          </>
        )}
        {c.taken_at && (
          <>
            <dt>Taken</dt>
            <dd>{formatCameraTime(c.taken_at)}</dd>
          </>
        )}
        {c.focal_length !== null && (
          <>
            <dt>Focal length</dt>
            <dd>{c.focal_length} mm</dd>
          </>
        )}
        {c.latitude !== null && c.longitude !== null && (
          <>
            <dt>Location</dt>
            <dd>
              {c.latitude.toFixed(5)}, {c.longitude.toFixed(5)}
              {c.altitude !== null ? ` · ${Math.round(c.altitude)} m` : ''}
            </dd>
          </>
        )}
        <dt>SHA-256</dt>
        <dd class="item-sha">
          <code title={d.sha256}>{d.sha256.slice(0, 16)}…</code> <CopyButton text={d.sha256} label="Copy" />
        </dd>
      </dl>
    </section>
  );
}

function EditableText(p: { value: string; label: string; canWrite: boolean; empty?: string; onSave: (v: string) => Promise<void> }) {
  const [editing, setEditing] = useState(false);
  const [v, setV] = useState(p.value);
  const [err, setErr] = useState<string | null>(null);
  if (!editing)
    return (
      <span class="editable">
        <span>{p.value || p.empty || ''}</span>
        {p.canWrite && (
          <button type="button" class="button-link button-tiny" aria-label={`Edit ${p.label.toLowerCase()}`} onClick={() => { setV(p.value); setErr(null); setEditing(true); }}>
            edit
          </button>
        )}
      </span>
    );
  return (
    <form
      class="inline-edit"
      onSubmit={(e) => {
        e.preventDefault();
        p.onSave(v.trim()).then(
          () => setEditing(false),
          (x) => setErr(errorMessage(x)),
        );
      }}
    >
      <input aria-label={p.label} value={v} autofocus onInput={(e) => setV((e.target as HTMLInputElement).value)} onKeyDown={(e) => e.key === 'Escape' && (e.preventDefault(), setEditing(false))} />
      <button type="submit" class="button button-small button-primary">
        Save
      </button>
      <button type="button" class="button button-small" onClick={() => setEditing(false)}>
        Cancel
      </button>
      {err && <div class="field-error">{err}</div>}
    </form>
  );
}

function Tags({ d, canWrite, onChange }: { d: DataDetail; canWrite: boolean; onChange: (x: DataDetail) => void }) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const change = async (add: string[], remove: string[]) => {
    setBusy(true);
    try {
      await lakes.tag(d.datalake_id, { ids: [d.id] }, add, remove);
      onChange(await items.get(d.id));
      setText('');
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="card" aria-labelledby="tags-title">
      <h2 id="tags-title">Tags</h2>
      <ul class="item-tags" data-testid="item-tags" aria-label="Tags">
        {d.tags.length === 0 && <li class="muted">No tags.</li>}
        {d.tags.map((t) => (
          <li key={t} class="chip">
            {t}
            {canWrite && (
              <button type="button" class="chip-x" aria-label={`Remove tag ${t}`} disabled={busy} onClick={() => change([], [t])}>
                ×
              </button>
            )}
          </li>
        ))}
      </ul>
      {canWrite && (
        <form
          class="inline-edit"
          onSubmit={(e) => {
            e.preventDefault();
            const names = parseTags(text);
            if (names.length) void change(names, []);
          }}
        >
          <input aria-label="Add tags" placeholder="Add tags, comma-separated" value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
          <button type="submit" class="button button-small" disabled={busy || !text.trim()}>
            Add
          </button>
        </form>
      )}
    </section>
  );
}

function Meta({ d, canWrite, onChange }: { d: DataDetail; canWrite: boolean; onChange: (x: DataDetail) => void }) {
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState('');
  const [err, setErr] = useState<string | null>(null);
  const keys = Object.keys(d.meta ?? {});
  const save = async () => {
    let meta: unknown;
    try {
      meta = JSON.parse(text || '{}');
    } catch (e) {
      setErr(`Not valid JSON: ${(e as Error).message}`);
      return;
    }
    if (!meta || typeof meta !== 'object' || Array.isArray(meta)) {
      setErr('Metadata is a JSON object, e.g. {"weather": "rain"}.');
      return;
    }
    try {
      onChange(await items.patch(d.id, { meta: meta as Record<string, unknown> }));
      setEditing(false);
    } catch (e) {
      setErr(errorMessage(e));
    }
  };
  return (
    <section class="card" aria-labelledby="meta-title">
      <div class="card-title-row">
        <h2 id="meta-title">Metadata</h2>
        {canWrite && !editing && (
          <button type="button" class="button button-small" onClick={() => { setText(JSON.stringify(d.meta ?? {}, null, 2)); setErr(null); setEditing(true); }}>
            Edit
          </button>
        )}
      </div>
      {editing ? (
        <div>
          <label for="meta-json" class="sr-only">
            Metadata (JSON)
          </label>
          <textarea id="meta-json" class="json-edit" rows={8} value={text} spellcheck={false} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
          {err && <div class="field-error">{err}</div>}
          <div class="dialog-actions">
            <button type="button" class="button button-small" onClick={() => setEditing(false)}>
              Cancel
            </button>
            <button type="button" class="button button-small button-primary" onClick={save}>
              Save metadata
            </button>
          </div>
        </div>
      ) : keys.length ? (
        <dl class="facts">
          {keys.map((k) => (
            <Fragment key={k}>
              <dt>{k}</dt>
              <dd>{showValue(d.meta[k])}</dd>
            </Fragment>
          ))}
        </dl>
      ) : (
        <p class="muted">No custom metadata. Search it with meta.KEY once set.</p>
      )}
    </section>
  );
}

function showValue(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function Exif({ d }: { d: DataDetail }) {
  const entries = Object.entries(d.exif ?? {});
  return (
    <section class="card" aria-labelledby="exif-title">
      <h2 id="exif-title">EXIF</h2>
      {entries.length ? (
        <>
          <p class="muted">
            {entries.length} tags · search them as <code>exif.{entries[0][0]}</code>
          </p>
          <dl class="facts exif" data-testid="exif">
            {entries.map(([k, v]) => (
              <Fragment key={k}>
                <dt>{k}</dt>
                <dd>{showValue(v)}</dd>
              </Fragment>
            ))}
          </dl>
        </>
      ) : (
        <p class="muted">This image carries no EXIF.</p>
      )}
    </section>
  );
}

/** The dataset versions holding this image (GET /data/{id}/dataset-versions). */
function VersionsUsing({ id }: { id: number }) {
  const uses = useLoad((signal) => versionsUsing(id, signal), [id]);
  return (
    <section class="card" aria-labelledby="dsv-title">
      <h2 id="dsv-title">Dataset versions</h2>
      {uses.error && <ErrorBox message={uses.error} onRetry={uses.reload} />}
      {uses.data && uses.data.length === 0 && <p class="muted">No dataset version uses this image. Select it on the Datalake page and choose “Create dataset version”.</p>}
      {uses.data && uses.data.length > 0 && (
        <ul class="item-versions" data-testid="dataset-versions">
          {uses.data.map((u) => (
            <li key={u.asset_id}>
              <a href={`/datasets/${u.dataset_id}/versions/${u.version_id}`}>
                {u.dataset} / {u.version}
              </a>
              {u.locked && <span class="badge badge-inline">locked</span>}
              <span class="muted">
                {' '}
                · {u.status ?? 'not annotated'}
                {u.objects ? ` · ${u.objects} object${u.objects === 1 ? '' : 's'}` : ''}
              </span>{' '}
              <a href={`/datasets/${u.dataset_id}/versions/${u.version_id}/annotate/${u.asset_id}`} class="button-tiny">
                {u.locked ? 'view' : 'annotate'}
              </a>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

const DISTANCES = [4, 8, 12, 16, 24];

function Similar({ item }: { item: DataDetail }) {
  const [dist, setDist] = useState(8);
  const sim = useLoad((signal) => items.similar(item.id, dist, signal), [item.id, dist]);
  return (
    <section class="card" aria-labelledby="similar-title">
      <div class="card-title-row">
        <h2 id="similar-title">Similar images</h2>
        <label class="similar-dist">
          Within distance{' '}
          <select value={String(dist)} onChange={(e) => setDist(Number((e.target as HTMLSelectElement).value))}>
            {DISTANCES.map((x) => (
              <option key={x} value={String(x)}>
                {x}
                {x === 8 ? ' (near-duplicates)' : x >= 16 ? ' (loose)' : ''}
              </option>
            ))}
          </select>
        </label>
      </div>
      {sim.error && <ErrorBox message={sim.error} onRetry={sim.reload} />}
      {sim.data && sim.data.length === 0 && (
        <p class="muted">
          No image within distance {dist}. Re-encoded or resized copies are typically 2–6 apart; unrelated images 20 or more.
        </p>
      )}
      {sim.data && sim.data.length > 0 && (
        <ul class="similar" data-testid="similar">
          {sim.data.map((s) => (
            <li key={s.id}>
              <a href={`/datalake/data/${s.id}`} class="similar-item" aria-label={`${s.filename}, distance ${s.distance}`}>
                <img src={s.thumbnail_url} alt="" loading="lazy" />
                <span class="similar-name">{s.filename}</span>
                <span class="similar-dist-badge">distance {s.distance}</span>
              </a>
            </li>
          ))}
        </ul>
      )}
      <p class="muted similar-query">
        In a search: <code>similar({item.id}, {dist})</code>
      </p>
    </section>
  );
}
