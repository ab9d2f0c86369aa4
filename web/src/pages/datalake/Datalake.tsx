/*
 * Datalake.tsx - /datalake: every image of a datalake in a virtual grid or
 * table, searched with the query language, selected and tagged in bulk,
 * uploaded by drag and drop.
 *
 * The URL holds what is shown (?lake=&q=&order=&view=), so a search can be
 * shared or bookmarked. Items come through a PageCache (lib/pagecache.ts):
 * the count sizes the grid at once, the grid reports its rendered range, the
 * cache reads those pages (keyset, forward from the nearest known cursor).
 *
 * The selection is explicit ids, or "all matching the query" (Ctrl+A or the
 * button): bulk actions then send the query instead of ids, so tagging
 * 100,000 matches is one request and never a list of ids.
 *
 * Keyboard: `/` goes to the search box; in the grid, arrows move, Enter
 * opens, Space toggles, Shift extends, Ctrl+A selects all matching, Esc
 * clears the selection.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Empty, PageHeader } from '../../components/Bits';
import { confirmDialog, Dialog } from '../../components/Dialog';
import { FormError, TextField, useForm } from '../../components/Form';
import { QueryForm } from '../../components/QueryBar';
import { ErrorBox } from '../../components/Table';
import { toast } from '../../components/Toasts';
import { VirtualGrid, type GridSelect } from '../../components/VirtualGrid';
import { ApiError, errorMessage } from '../../lib/api';
import { cameraName, lakes, ORDERS, queryUsesTags, quoteValue, type Selector } from '../../lib/datalake';
import { formatBytes, formatTime } from '../../lib/format';
import { useLoad } from '../../lib/hooks';
import { can } from '../../lib/roles';
import { processHref } from '../../lib/processing';
import { navigate, setQuery, useLocation } from '../../lib/router';
import { currentMe } from '../../lib/session';
import { useStore } from '../../lib/store';
import type { Datalake, DataItem } from '../../lib/types';
import { droppedFiles, uploads, type PickedFile } from '../../lib/upload';
import { FilePickers } from './FilePickers';
import { browseFor, NONE, primeCount, type Browse, type Selection } from './browse';
import { TagDialog } from './TagDialog';
import { CreateVersionDialog } from '../datasets/CreateVersionDialog';
import { UploadDialog } from './UploadDialog';

const SYNTAX_EXAMPLES = [
  'width >= 1024 and height >= 768',
  'tag = night and not tag = blurry',
  'format in (png, webp)',
  'filename ~ "IMG_*.jpg"',
  'size < 2MB',
  'created > "2026-01-01"',
  'exif.make = "Canon"',
  'meta.weather = "rain"',
  'similar(123, 6)',
];

/** The API's limit on ids in one bulk request (DATALAKE_IDS_MAX). */
export const IDS_MAX = 10_000;

export function DatalakePage() {
  const loc = useLocation();
  const me = currentMe();
  const canWrite = can(me?.role, 'write');
  const list = useLoad((signal) => lakes.list(signal), []);
  const [creating, setCreating] = useState(false);
  const wanted = Number(loc.query.get('lake')) || 0;
  const all = list.data ?? [];
  const lake = all.find((l) => l.id === wanted) ?? all.find((l) => l.name === 'default') ?? all[0];

  if (list.error && !list.data)
    return (
      <div class="page">
        <PageHeader title="Datalake" />
        <ErrorBox message={list.error} onRetry={list.reload} />
      </div>
    );
  if (!list.data)
    return (
      <div class="page">
        <PageHeader title="Datalake" />
        <p class="muted">Loading…</p>
      </div>
    );
  if (!lake)
    return (
      <div class="page">
        <PageHeader title="Datalake" subtitle="Every raw image, stored once." />
        <Empty title="No datalake yet">
          <p>A datalake holds raw images: upload them once, then tag, search and build datasets from them.</p>
          {canWrite && (
            <button type="button" class="button button-primary" onClick={() => setCreating(true)}>
              Create a datalake
            </button>
          )}
        </Empty>
        <NewLakeDialog open={creating} onClose={() => setCreating(false)} onCreated={(l) => { list.reload(); setQuery({ lake: String(l.id) }); }} />
      </div>
    );
  return (
    <LakeBrowser
      key={lake.id}
      lake={lake}
      lakes={all}
      canWrite={canWrite}
      onLakesChanged={list.reload}
      onNewLake={() => setCreating(true)}
      newLakeDialog={<NewLakeDialog open={creating} onClose={() => setCreating(false)} onCreated={(l) => { list.reload(); setQuery({ lake: String(l.id), q: null }); }} />}
    />
  );
}

interface BrowserProps {
  lake: Datalake;
  lakes: Datalake[];
  canWrite: boolean;
  onLakesChanged: () => void;
  onNewLake: () => void;
  newLakeDialog: ComponentChildren;
}

function LakeBrowser(props: BrowserProps) {
  const { lake, canWrite } = props;
  const loc = useLocation();
  const q = loc.query.get('q') ?? '';
  const order = loc.query.get('order') || '-created';
  const view = loc.query.get('view') === 'table' ? 'table' : 'grid';
  const browse = useMemo(() => browseFor(lake.id, q, order), [lake.id, q, order]);
  const cache = browse.cache;
  const [returning, setReturning] = useState(() => {
    const r = browse.returning;
    browse.returning = false;
    return r;
  });
  useCacheVersion(browse);

  const [draft, setDraft] = useState(q);
  useEffect(() => setDraft(q), [q]); // back/forward
  const [queryError, setQueryError] = useState<{ q: string; message: string } | null>(null);
  const [sel, setSelState] = useState<Selection>(browse.sel);
  const setSel = (s: Selection) => {
    browse.sel = s;
    setSelState(s);
  };
  useEffect(() => setSelState(browse.sel), [browse]);
  const [uploadOpen, setUploadOpen] = useState(false);
  const [tagMode, setTagMode] = useState<'add' | 'remove' | null>(null);
  const [dsvOpen, setDsvOpen] = useState(false);
  const [dragging, setDragging] = useState(false);
  const dragDepth = useRef(0);
  const search = useRef<HTMLInputElement | null>(null);
  const tags = useLoad((signal) => lakes.tags(lake.id, signal), [lake.id]);

  /* the applied query's error (a shared link with a typo) shows under the box */
  const shownError = queryError ?? (cache.errorStatus === 400 && cache.error ? { q, message: cache.error } : null);

  /* `/` anywhere on the page (but in a field) goes to the search box; Esc clears the selection */
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      const typing = t.closest('input, textarea, select, [contenteditable], dialog');
      if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
        e.preventDefault();
        search.current?.focus();
        search.current?.select();
      } else if (e.key === 'Escape' && !typing && !e.defaultPrevented && (sel.all || sel.ids.size)) {
        setSel(NONE);
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [sel]);

  /* uploads into this datalake refresh the listing (at most once a second),
     also those that finished while this page was not shown */
  useEffect(() => {
    if (browse.uploadsSeen !== uploads.storedIn(lake.id)) {
      browse.uploadsSeen = uploads.storedIn(lake.id);
      cache.reset();
    }
  }, [browse]);
  useEffect(() => {
    let timer: number | null = null;
    let pending = false;
    const flush = () => {
      timer = null;
      if (!pending) return;
      pending = false;
      browse.uploadsSeen = uploads.storedIn(lake.id);
      cache.reset();
      props.onLakesChanged();
      tags.reload();
      timer = window.setTimeout(flush, 1000);
    };
    uploads.onStored = (f) => {
      if (f.lake !== lake.id) return;
      pending = true;
      if (timer === null) flush();
    };
    return () => {
      uploads.onStored = null;
      if (timer !== null) window.clearTimeout(timer);
    };
  }, [cache]);

  const submitQuery = async (text: string) => {
    const t = text.trim();
    if (t === q) {
      setQueryError(null);
      cache.reset();
      return;
    }
    try {
      /* checks the query: its error goes under the box, the grid stays */
      primeCount(lake.id, t, await lakes.count(lake.id, t));
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
  const selector = (): Selector => (sel.all ? { q } : { ids: [...sel.ids] });
  const isSelected = (i: number) => {
    if (sel.all) return true;
    const it = cache.get(i);
    return !!it && sel.ids.has(it.id);
  };

  const onSelect = async (a: GridSelect) => {
    try {
      switch (a.kind) {
        case 'only': {
          const it = cache.get(a.index);
          if (it) setSel({ all: false, ids: new Set([it.id]) });
          return;
        }
        case 'toggle': {
          const it = cache.get(a.index);
          if (!it) return;
          let ids: Set<number>;
          if (sel.all) {
            /* "all but this one": explicit ids, if there are not too many */
            if ((count ?? 0) > IDS_MAX) {
              toast(`All ${count!.toLocaleString()} matches are selected. To leave some out, narrow the query (a selection by hand holds up to ${IDS_MAX.toLocaleString()} items).`);
              return;
            }
            ids = new Set((await cache.collect(0, (count ?? 1) - 1)).map((x) => x.id));
          } else ids = new Set(sel.ids);
          if (ids.has(it.id)) ids.delete(it.id);
          else ids.add(it.id);
          setSel({ all: false, ids });
          return;
        }
        case 'range': {
          const lo = Math.min(a.from, a.to);
          const hi = Math.max(a.from, a.to);
          if (hi - lo + 1 > IDS_MAX) {
            toast(`A selection by hand holds up to ${IDS_MAX.toLocaleString()} items; use “Select all matching” with a query instead.`, { kind: 'error' });
            return;
          }
          const got = await cache.collect(lo, hi);
          const ids = new Set(a.additive && !sel.all ? sel.ids : []);
          for (const x of got) ids.add(x.id);
          setSel({ all: false, ids });
          return;
        }
        case 'all':
          if (count) setSel({ all: true });
          return;
        case 'clear':
          setSel(NONE);
          return;
      }
    } catch (e) {
      if ((e as Error).name !== 'AbortError') toast(errorMessage(e), { kind: 'error' });
    }
  };

  const open = (i: number) => {
    const it = cache.get(i);
    if (!it) return;
    browse.active = i;
    browse.returning = true;
    browse.listUrl = window.location.pathname + window.location.search;
    navigate(`/datalake/data/${it.id}`);
  };

  const afterTags = () => {
    if (queryUsesTags(q)) cache.reset();
    else cache.refresh();
    tags.reload();
  };

  const removeSelected = async () => {
    const n = selCount;
    const what = sel.all ? (q ? `all ${n.toLocaleString()} items matching “${q}”` : `all ${n.toLocaleString()} items`) : `${n.toLocaleString()} item${n === 1 ? '' : 's'}`;
    const ok = await confirmDialog({
      title: `Delete ${n.toLocaleString()} item${n === 1 ? '' : 's'}?`,
      message: `This removes ${what} from the datalake “${lake.name}”, with their tags and metadata. It cannot be undone.`,
      confirmLabel: 'Delete',
      danger: true,
    });
    if (!ok) return;
    try {
      const r = await lakes.remove(lake.id, selector());
      toast(`Deleted ${r.deleted.toLocaleString()} item${r.deleted === 1 ? '' : 's'}.`, { kind: 'success' });
      setSel(NONE);
      cache.reset();
      props.onLakesChanged();
      tags.reload();
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    }
  };

  const addFiles = (files: PickedFile[]) => {
    if (!files.length) return;
    uploads.add(files, lake.id);
    setUploadOpen(true);
  };

  /* files dragged anywhere over the window upload into this datalake (a
     stray drop must not make the browser leave the app to show the file) */
  useEffect(() => {
    const hasFiles = (e: DragEvent) => !!e.dataTransfer && Array.from(e.dataTransfer.types).includes('Files');
    const inDialog = (e: DragEvent) => !!(e.target as Element | null)?.closest?.('dialog');
    const onEnter = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      dragDepth.current++;
      if (canWrite && !uploadOpen) setDragging(true);
    };
    const onLeave = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      if (--dragDepth.current <= 0) {
        dragDepth.current = 0;
        setDragging(false);
      }
    };
    const onOver = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      e.dataTransfer!.dropEffect = canWrite ? 'copy' : 'none';
    };
    const onDrop = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      dragDepth.current = 0;
      setDragging(false);
      if (!canWrite) {
        toast(`Your role cannot upload into “${lake.name}”.`, { kind: 'error' });
        return;
      }
      if (inDialog(e) && !uploadOpen) return; /* another dialog is open */
      droppedFiles(e.dataTransfer!).then(addFiles, (err) => toast(errorMessage(err), { kind: 'error' }));
    };
    document.addEventListener('dragenter', onEnter);
    document.addEventListener('dragleave', onLeave);
    document.addEventListener('dragover', onOver);
    document.addEventListener('drop', onDrop);
    return () => {
      document.removeEventListener('dragenter', onEnter);
      document.removeEventListener('dragleave', onLeave);
      document.removeEventListener('dragover', onOver);
      document.removeEventListener('drop', onDrop);
    };
  }, [canWrite, uploadOpen, lake.id]);

  const matching = count === null ? '…' : count.toLocaleString();
  const subtitle = `${lake.count.toLocaleString()} image${lake.count === 1 ? '' : 's'} · ${formatBytes(lake.bytes)}${lake.description ? ' · ' + lake.description : ''}`;

  return (
    <div class="page page-fill datalake">
      <PageHeader
        title="Datalake"
        subtitle={subtitle}
        actions={
          <>
            <LakeSwitcher lakes={props.lakes} current={lake} />
            {canWrite && (
              <button type="button" class="button" onClick={props.onNewLake}>
                New datalake
              </button>
            )}
            {canWrite && <UploadButton onClick={() => setUploadOpen(true)} />}
          </>
        }
      />
      <QueryForm
        value={draft}
        onChange={setDraft}
        onSubmit={(v) => void submitQuery(v)}
        complete={(text, cursor, signal) => lakes.autocomplete(lake.id, text, cursor, signal)}
        error={shownError}
        label="Search with the query language"
        placeholder='Search: width >= 1024 and tag = night   (press / to focus)'
        inputRef={search}
      >
        <button type="submit" class="button">
          Search
        </button>
        {q && (
          <button
            type="button"
            class="button button-link"
            onClick={() => {
              setQueryError(null);
              setQuery({ q: null });
            }}
          >
            Clear
          </button>
        )}
        <details class="dl-help">
          <summary>Syntax</summary>
          <div class="dl-help-body">
            <p>Fields, operators and values are suggested as you type (Tab takes one). Examples:</p>
            <ul>
              {SYNTAX_EXAMPLES.map((x) => (
                <li key={x}>
                  <code>{x}</code>
                </li>
              ))}
            </ul>
            <p class="muted">Combine with and, or, not and parentheses. Sizes take units (2MB); dates are ISO ("2026-01-01").</p>
          </div>
        </details>
        <label class="dl-order">
          <span class="sr-only">Order</span>
          <select value={order} onChange={(e) => setQuery({ order: (e.target as HTMLSelectElement).value === '-created' ? null : (e.target as HTMLSelectElement).value })}>
            {ORDERS.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </label>
        <div class="segmented" role="group" aria-label="View">
          <button type="button" aria-pressed={view === 'grid'} onClick={() => setQuery({ view: null })}>
            Grid
          </button>
          <button type="button" aria-pressed={view === 'table'} onClick={() => setQuery({ view: 'table' })}>
            Table
          </button>
        </div>
      </QueryForm>
      <TagChips tags={tags.data} q={q} onPick={(expr) => void submitQuery(q ? `${q} and ${expr}` : expr)} />
      <div class="dl-toolbar" role="group" aria-label="Selection">
        <span class="dl-count" aria-live="polite" data-testid="match-count">
          {q ? `${matching} matching` : `${matching} image${count === 1 ? '' : 's'}`}
        </span>
        <WalkProgress browse={browse} />
        <span class="dl-sel" data-testid="selection-count">
          {selCount ? (sel.all ? `All ${selCount.toLocaleString()} selected` : `${selCount.toLocaleString()} selected`) : 'None selected'}
        </span>
        {!!count && !sel.all && (
          <button type="button" class="button button-small" onClick={() => setSel({ all: true })}>
            Select all {count.toLocaleString()} matching
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
            <button type="button" class="button button-small" disabled={!selCount} onClick={() => setTagMode('add')}>
              Tag…
            </button>
            <button type="button" class="button button-small" disabled={!selCount} onClick={() => setTagMode('remove')}>
              Untag…
            </button>
            <button type="button" class="button button-small button-danger-quiet" disabled={!selCount} onClick={removeSelected}>
              Delete…
            </button>
            <button type="button" class="button button-small" disabled={!selCount && !count} title="Put the selection (or, with none, every image matching the query) into a dataset version" onClick={() => setDsvOpen(true)}>
              Create dataset version…
            </button>
            <a class="button button-small" href={processHref(`datalake:${lake.id}`, sel, q)} title="Run a processing on the selection (or, with none, every image matching the query)">
              Run a processing…
            </a>
          </>
        )}
      </div>
      {cache.error && cache.errorStatus !== 400 && <ErrorBox message={cache.error} onRetry={() => cache.retry()} />}
      <div class="dl-body">
        {count === 0 ? (
          q ? (
            <Empty title="Nothing matches this query">
              <p>Change the query, or clear it to see every image.</p>
            </Empty>
          ) : (
            <EmptyLake canWrite={canWrite} onFiles={addFiles} />
          )
        ) : count === null ? (
          !cache.error && <p class="muted dl-loading">Loading…</p>
        ) : view === 'grid' ? (
          <ItemGrid key={browse.key} browse={browse} focus={returning} canWrite={canWrite} isSelected={isSelected} onSelect={onSelect} hasSelection={selCount > 0} onOpen={open} />
        ) : (
          <ItemTable key={browse.key} browse={browse} focus={returning} isSelected={isSelected} onSelect={onSelect} hasSelection={selCount > 0} onOpen={open} order={order} />
        )}
      </div>
      {dragging && (
        <div class="drop-overlay" aria-hidden="true">
          <div class="drop-overlay-box">Drop images or folders to upload them into “{lake.name}”</div>
        </div>
      )}
      {canWrite && <UploadDialog open={uploadOpen} onClose={() => setUploadOpen(false)} lake={lake} onFiles={addFiles} />}
      {tagMode && (
        <TagDialog
          mode={tagMode}
          lake={lake}
          count={selCount}
          selector={selector()}
          describe={sel.all ? (q ? `all ${selCount.toLocaleString()} items matching “${q}”` : `all ${selCount.toLocaleString()} items`) : `${selCount.toLocaleString()} selected item${selCount === 1 ? '' : 's'}`}
          known={tags.data ?? []}
          current={sel.all ? null : selectedTags(browse, sel)}
          onClose={() => setTagMode(null)}
          onDone={afterTags}
        />
      )}
      {dsvOpen && (
        <CreateVersionDialog
          lake={lake}
          describe={
            selCount && !sel.all
              ? `${selCount.toLocaleString()} selected image${selCount === 1 ? '' : 's'}`
              : q
                ? `all ${(count ?? 0).toLocaleString()} images matching “${q}”`
                : `all ${(count ?? 0).toLocaleString()} images of “${lake.name}”`
          }
          selector={selCount && !sel.all ? { data_ids: [...sel.ids] } : { q }}
          onClose={() => setDsvOpen(false)}
          onDone={(v) => navigate(`/datasets/${v.dataset_id}/versions/${v.id}`)}
        />
      )}
      {props.newLakeDialog}
    </div>
  );
}

/** A jump far into the list reads its way there (keyset pages): say so. */
function WalkProgress({ browse }: { browse: Browse }) {
  const w = browse.cache.walk();
  if (!w) return null;
  return (
    <span class="dl-walk muted" role="status">
      reading to item {w.target.toLocaleString()}… {Math.round((w.reached / Math.max(1, w.target)) * 100)}%
    </span>
  );
}

/** Re-renders when the page cache changes. */
function useCacheVersion(browse: Browse) {
  const [, setV] = useState(0);
  useEffect(() => {
    const un = browse.cache.subscribe(() => setV(browse.cache.version));
    setV(browse.cache.version); /* a change before this effect ran (a quick count) */
    return un;
  }, [browse]);
}

/** Tags on the loaded selected items (for "Untag"): name -> how many of them carry it. */
function selectedTags(browse: Browse, sel: Selection): Map<string, number> {
  const out = new Map<string, number>();
  if (sel.all) return out;
  const c = browse.cache;
  const n = c.count ?? 0;
  let found = 0;
  for (let i = 0; i < n && found < sel.ids.size; i++) {
    const it = c.get(i);
    if (!it || !sel.ids.has(it.id)) continue;
    found++;
    for (const t of it.tags) out.set(t, (out.get(t) ?? 0) + 1);
  }
  return out;
}

function UploadButton({ onClick }: { onClick: () => void }) {
  useStore(uploads.changes);
  const s = uploads.summary();
  return (
    <button type="button" class="button button-primary" onClick={onClick}>
      {s.running ? `Uploading ${s.done.toLocaleString()} / ${s.files.toLocaleString()}…` : 'Upload'}
    </button>
  );
}

function LakeSwitcher({ lakes: all, current }: { lakes: Datalake[]; current: Datalake }) {
  return (
    <label class="dl-switch">
      <span class="sr-only">Datalake</span>
      <select value={String(current.id)} onChange={(e) => setQuery({ lake: (e.target as HTMLSelectElement).value, q: null })}>
        {all.map((l) => (
          <option key={l.id} value={String(l.id)}>
            {l.name} ({l.count.toLocaleString()})
          </option>
        ))}
      </select>
    </label>
  );
}

function TagChips({ tags, q, onPick }: { tags: { name: string; count: number }[] | undefined; q: string; onPick: (expr: string) => void }) {
  if (!tags?.some((t) => t.count > 0)) return null;
  const top = tags.filter((t) => t.count > 0).sort((a, b) => b.count - a.count).slice(0, 12);
  return (
    <div class="dl-tags" aria-label="Filter by tag" role="group">
      <span class="muted">Tags:</span>
      {top.map((t) => {
        const expr = `tag = ${quoteValue(t.name)}`;
        const on = q.includes(expr);
        return (
          <button key={t.name} type="button" class={'chip chip-button' + (on ? ' chip-on' : '')} disabled={on} onClick={() => onPick(expr)} title={`Add “${expr}” to the query`}>
            {t.name} <span class="chip-count">{t.count.toLocaleString()}</span>
          </button>
        );
      })}
    </div>
  );
}

interface ViewProps {
  browse: Browse;
  focus: boolean;
  isSelected: (i: number) => boolean;
  onSelect: (a: GridSelect) => void;
  hasSelection: boolean;
  onOpen: (i: number) => void;
}

function ItemGrid(p: ViewProps & { canWrite: boolean }) {
  const c = p.browse.cache;
  return (
    <VirtualGrid
      count={c.count ?? 0}
      itemWidth={176}
      itemHeight={206}
      gap={10}
      overscan={2}
      label="Images"
      class="dl-grid"
      initialActive={p.browse.active}
      focusOnMount={p.focus}
      onActiveChange={(i) => (p.browse.active = i)}
      onRangeChange={(a, b) => c.want(a, b)}
      isSelected={p.isSelected}
      onSelect={p.onSelect}
      hasSelection={p.hasSelection}
      onActivate={p.onOpen}
      cellProps={(i) => {
        const it = c.get(i);
        return { 'aria-label': it ? `${it.filename}, ${it.width}×${it.height}` : 'Loading', 'data-id': it ? String(it.id) : undefined };
      }}
      renderItem={(i, st) => <Thumb item={c.get(i)} selected={st.selected} fast={st.fast} onToggle={() => p.onSelect({ kind: 'toggle', index: i })} />}
    />
  );
}

/* Thumbnails already shown (in this tab): shown even while flinging, so nothing blinks. */
const shownThumbs = new Set<string>();

function Thumb({ item, selected, fast, onToggle }: { item: DataItem | undefined; selected: boolean; fast: boolean; onToggle: () => void }) {
  if (!item) return <div class="thumb thumb-loading" />;
  const img = !fast || shownThumbs.has(item.thumbnail_url);
  if (img) {
    if (shownThumbs.size > 20_000) shownThumbs.clear(); /* a bound; they come back from the browser cache */
    shownThumbs.add(item.thumbnail_url);
  }
  return (
    <div class="thumb">
      <div class="thumb-img">{img && <img src={item.thumbnail_url} alt="" loading="lazy" decoding="async" draggable={false} />}</div>
      <div class="thumb-caption">
        <span class="thumb-name" title={item.filename}>
          {item.filename}
        </span>
        <span class="thumb-dims">
          {item.width}×{item.height}
        </span>
      </div>
      {item.tags.length > 0 && (
        <div class="thumb-tags">
          {item.tags.slice(0, 3).map((t) => (
            <span key={t} class="chip chip-small">
              {t}
            </span>
          ))}
          {item.tags.length > 3 && <span class="chip chip-small">+{item.tags.length - 3}</span>}
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

const TABLE_COLS = '44px minmax(160px, 2fr) 60px 120px 84px minmax(120px, 2fr) minmax(120px, 1.4fr) 150px';

function ItemTable(p: ViewProps & { order: string }) {
  const c = p.browse.cache;
  const sortable = (label: string, field: string | null, cls = '') => {
    if (!field) return <span class={'dl-th ' + cls}>{label}</span>;
    const dir = p.order === field ? 'ascending' : p.order === '-' + field ? 'descending' : undefined;
    return (
      <span class={'dl-th ' + cls}>
        <button
          type="button"
          title={`Sort by ${label.toLowerCase()}`}
          aria-pressed={!!dir}
          class="dl-sort"
          onClick={() => {
            const next = dir === 'descending' ? field : '-' + field;
            setQuery({ order: next === '-created' ? null : next });
          }}
        >
          {label}
          <span aria-hidden="true">{dir === 'ascending' ? ' ▲' : dir === 'descending' ? ' ▼' : ''}</span>
        </button>
      </span>
    );
  };
  return (
    <div class="dl-table">
      <div class="dl-thead" style={{ gridTemplateColumns: TABLE_COLS }} role="group" aria-label="Columns (sort)">
        <span class="dl-th" />
        {sortable('File name', 'filename')}
        <span class="dl-th">Format</span>
        {sortable('Width × height', 'width')}
        {sortable('Size', 'size', 'num')}
        <span class="dl-th">Tags</span>
        <span class="dl-th">Camera</span>
        {sortable('Uploaded', 'created')}
      </div>
      <VirtualGrid
        count={c.count ?? 0}
        itemWidth={100_000}
        itemHeight={44}
        gap={0}
        overscan={6}
        label="Images (table)"
        class="dl-rows"
        initialActive={p.browse.active}
        focusOnMount={p.focus}
        onActiveChange={(i) => (p.browse.active = i)}
        onRangeChange={(a, b) => c.want(a, b)}
        isSelected={p.isSelected}
        onSelect={p.onSelect}
        hasSelection={p.hasSelection}
        onActivate={p.onOpen}
        cellProps={(i) => {
          const it = c.get(i);
          return { 'aria-label': it ? `${it.filename}, ${it.width}×${it.height}, ${formatBytes(it.size)}` : 'Loading', 'data-id': it ? String(it.id) : undefined };
        }}
        renderItem={(i, st) => <Row item={c.get(i)} fast={st.fast} />}
      />
    </div>
  );
}

function Row({ item, fast }: { item: DataItem | undefined; fast: boolean }) {
  if (!item) return <div class="dl-row dl-row-loading" style={{ gridTemplateColumns: TABLE_COLS }} />;
  const cam = cameraName(item.camera);
  return (
    <div class="dl-row" style={{ gridTemplateColumns: TABLE_COLS }}>
      <span class="dl-row-thumb">{(!fast || shownThumbs.has(item.thumbnail_url)) && <img src={item.thumbnail_url} alt="" loading="lazy" decoding="async" draggable={false} />}</span>
      <span class="dl-cell-name" title={item.filename}>
        {item.filename}
      </span>
      <span>{item.format}</span>
      <span class="num">
        {item.width} × {item.height}
      </span>
      <span class="num">{formatBytes(item.size)}</span>
      <span class="dl-cell-tags">
        {item.tags.map((t) => (
          <span key={t} class="chip chip-small">
            {t}
          </span>
        ))}
      </span>
      <span class="dl-cell-cam">{cam ?? <span class="muted">—</span>}</span>
      <span>{formatTime(item.created_at)}</span>
    </div>
  );
}

function EmptyLake({ canWrite, onFiles }: { canWrite: boolean; onFiles: (f: PickedFile[]) => void }) {
  return (
    <div class="empty dl-empty">
      <p class="empty-title">This datalake is empty</p>
      {canWrite ? (
        <>
          <p>Drop images or whole folders anywhere on this page, or choose them:</p>
          <FilePickers onFiles={onFiles} />
          <p class="muted">JPEG, PNG, WebP, TIFF and BMP. The same image uploaded twice is stored once.</p>
        </>
      ) : (
        <p class="muted">Your role can look at images but not upload them.</p>
      )}
    </div>
  );
}

function NewLakeDialog({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: (l: Datalake) => void }) {
  const form = useForm(
    { name: '', description: '' },
    async (v) => {
      const l = await lakes.create(v.name.trim(), v.description.trim());
      toast(`Datalake “${l.name}” created.`, { kind: 'success' });
      onClose();
      form.reset();
      onCreated(l);
    },
    { required: ['name'] },
  );
  return (
    <Dialog open={open} title="Create a datalake" onClose={onClose}>
      <form onSubmit={form.onSubmit} noValidate aria-label="Create a datalake">
        <p class="muted">A datalake is a pool of raw images. Most teams need one; make more to keep unrelated collections apart.</p>
        <TextField form={form} name="name" label="Name" autofocus hint="Up to 64 characters, unique in the organization." />
        <TextField form={form} name="description" label="Description" />
        <FormError message={form.formError} />
        <div class="dialog-actions">
          <button type="button" class="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={form.submitting}>
            Create datalake
          </button>
        </div>
      </form>
    </Dialog>
  );
}
