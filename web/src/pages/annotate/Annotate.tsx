/*
 * Annotate.tsx - /datasets/:did/versions/:vid/annotate/:aid: the annotation
 * tool for one asset of a version, stepping through the version's filtered
 * list.
 *
 * The page holds the state: the asset, its document (doc.ts: shapes and the
 * undo stack), the autosave (saver.ts), the tool, the current label, the
 * selection, the prediction threshold. The canvas is a Stage (stage.ts) that
 * reads that state through a host object and draws without re-rendering the
 * page. The side panel lists labels (search, number keys, create),
 * whole-image tags (classification), the shapes, and the prediction
 * threshold.
 *
 * Opening fast: the asset's image starts loading as soon as its datalake id
 * is known (at once when coming from the grid, whose page cache has it),
 * thumbnail first; the next asset's original is fetched ahead. The first
 * paint of the image and of the original are marked with performance.mark
 * ('cvops:annotate:image', 'cvops:annotate:original'), which the browser
 * tests read.
 *
 * Read-only when the version is locked or the role cannot annotate: the
 * shapes can be looked at and selected, not changed.
 */
import type { JSX } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Dialog } from '../../components/Dialog';
import { ErrorBox } from '../../components/Table';
import { toast } from '../../components/Toasts';
import { errorMessage } from '../../lib/api';
import { annotateUrl, assets, plural, STATUSES, versions, versionUrl, type Asset, type Label, type Status } from '../../lib/datasets';
import { useLoad } from '../../lib/hooks';
import { can } from '../../lib/roles';
import { navigate, useLocation } from '../../lib/router';
import { currentMe } from '../../lib/session';
import { createStore, useStore, type Store } from '../../lib/store';
import { currentVBrowse } from '../datasets/vbrowse';
import { addShapes, Doc, fromApi, newUid, removeShapes, replaceShapes, type Command, type Shape } from './doc';
import { bounds, type View } from './geometry';
import { imageFor, prefetch, releaseImages, type LoadedImage } from './imagesource';
import { Saver } from './saver';
import { SHORTCUT_GROUPS } from './shortcuts';
import { duplicate, isTyping, Stage, textOn, type Draft, type StageHost, type Tool } from './stage';
import './annotate.css';

interface Loaded {
  asset: Asset;
  doc: Doc;
  saver: Saver;
  image: LoadedImage;
}

/* tool icons: inline SVG (no icon font, nothing to download; every system draws them the same) */
const icon = (d: string, extra?: JSX.Element) => (
  <svg viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round" stroke-linecap="round" aria-hidden="true">
    <path d={d} />
    {extra}
  </svg>
);

const TOOLS: { tool: Tool; key: string; name: string; icon: JSX.Element }[] = [
  { tool: 'select', key: 'V', name: 'Select', icon: icon('M6 3l12 9-5.5 1L9.5 19z') },
  { tool: 'box', key: 'R', name: 'Rectangle', icon: icon('M4 6h16v12H4z') },
  { tool: 'polygon', key: 'P', name: 'Polygon', icon: icon('M12 3l8 6-3 11H7L4 9z') },
  { tool: 'polyline', key: 'L', name: 'Polyline', icon: icon('M3 18l5-9 5 5 8-10') },
  { tool: 'point', key: 'O', name: 'Point', icon: icon('M12 12h0', <circle cx="12" cy="12" r="3.5" fill="currentColor" />) },
  {
    tool: 'keypoints',
    key: 'K',
    name: 'Keypoints',
    icon: icon(
      'M12 6v6M12 12l-6 7M12 12l6 7',
      <>
        <circle cx="12" cy="5" r="2" fill="currentColor" />
        <circle cx="6" cy="19" r="2" fill="currentColor" />
        <circle cx="18" cy="19" r="2" fill="currentColor" />
      </>,
    ),
  },
];

/** Shapes copied with Ctrl+C: kept while the tool is open, across images. */
let clipboard: { assetId: number; shapes: Shape[] } | null = null;

/** The labels of each version, kept while the tool steps through its images. */
const labelCache = new Map<number, Label[]>();

export function AnnotatePage({ params }: { params: Record<string, string> }) {
  const did = Number(params.did);
  const vid = Number(params.vid);
  const aid = Number(params.aid);
  const loc = useLocation();
  const q = loc.query.get('q') ?? '';
  const me = currentMe();
  const version = useLoad((signal) => versions.get(vid, signal), [vid]);
  const [labels, setLabels] = useState<Label[] | null>(() => labelCache.get(vid) ?? null);
  const [labelsError, setLabelsError] = useState<string | null>(null);
  /* until the version is known (is it locked?), nothing can be changed */
  const readonly = !version.data || !can(me?.role, 'annotate') || version.data.locked;

  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [tool, setTool] = useState<Tool>('select');
  const [labelName, setLabelName] = useState<string | null>(null);
  const [selected, setSelected] = useState<number[]>([]);
  const [threshold, setThreshold] = useState(0.5);
  const [hidden, setHidden] = useState(false);
  const [draft, setDraft] = useState<Draft | null>(null);
  /* the zoom readout watches the view on its own: a pan must not re-render the page */
  const viewStore = useMemo(() => createStore<View>({ scale: 1, tx: 0, ty: 0 }), []);
  const [help, setHelp] = useState(false);
  const [, setTick] = useState(0);
  const rerender = () => setTick((t) => t + 1);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const searchRef = useRef<HTMLInputElement>(null);
  const current = useRef<Loaded | null>(null);
  current.current = loaded;

  /* labels of the version (kept across images) */
  const reloadLabels = () =>
    versions.labels(vid).then(
      (ls) => {
        labelCache.set(vid, ls);
        setLabels(ls);
        setLabelsError(null);
      },
      (e) => setLabelsError(errorMessage(e)),
    );
  useEffect(() => {
    void reloadLabels();
  }, [vid]);
  const byName = useMemo(() => new Map((labels ?? []).map((l) => [l.name, l])), [labels]);
  const label = (labelName && byName.get(labelName)) || labels?.[0] || null;

  /* the stage and the host it reads */
  const hostRef = useRef<StageHost>(null as unknown as StageHost);
  if (!hostRef.current)
    hostRef.current = {
      doc: new Doc(),
      image: null,
      tool: 'select',
      label: null,
      labelOf: () => undefined,
      selected: [],
      threshold: 0.5,
      hidden: false,
      readonly: true,
      select: (uids) => setSelected(uids),
      exec: (c) => exec(c),
      draftChanged: (d) => setDraft(d),
      viewChanged: (v) => viewStore.set(v),
      message: (m) => toast(m),
      painted: (what) => {
        performance.mark(what === 'original' ? 'cvops:annotate:original' : 'cvops:annotate:image');
        if (what === 'original' && !performance.getEntriesByName('cvops:annotate:image').length) performance.mark('cvops:annotate:image');
        canvasRef.current?.parentElement?.setAttribute('data-painted', what);
      },
    };
  const host = hostRef.current;
  const stageRef = useRef<Stage | null>(null);
  if (!stageRef.current) stageRef.current = new Stage(host);
  const stage = stageRef.current;

  host.tool = tool;
  host.label = label;
  host.labelOf = (n) => byName.get(n);
  host.selected = selected;
  host.threshold = threshold;
  host.hidden = hidden;
  host.readonly = readonly || !loaded;
  if (loaded) {
    host.doc = loaded.doc;
    host.image = loaded.image;
    loaded.saver.readonly = readonly;
  }
  useEffect(() => stage.invalidate());

  useEffect(() => {
    const c = canvasRef.current;
    if (!c) return;
    stage.attach(c);
    return () => stage.detach();
  }, []);

  const exec = (c: Command) => {
    const l = current.current;
    if (!l || host.readonly) return;
    l.saver.touch();
    l.doc.exec(c);
  };

  /* load the asset: the image at once if the grid's cache knows it, the shapes from the API */
  useEffect(() => {
    const ac = new AbortController();
    setLoadError(null);
    setSelected([]);
    /* nothing of the previous image stays on screen: no shapes until this one's arrive */
    if (current.current && current.current.asset.id !== aid) setLoaded(null);
    host.doc = new Doc();
    const b = currentVBrowse();
    const known = b && b.version === vid ? findInCache(b, aid) : null;
    const img = known ? imageFor(known.data_id, known.width, known.height, known.format) : null;
    if (host.image !== img) {
      host.image = img;
      stage.setImage(img);
    }
    stage.invalidate();
    assets.get(aid, ac.signal).then(
      (a) => {
        if (ac.signal.aborted) return;
        if (a.version_id !== vid) {
          setLoadError(`Asset ${aid} belongs to another dataset version.`);
          return;
        }
        const doc = new Doc((a.shapes ?? []).map(fromApi));
        const saver = new Saver(aid, doc, { revision: a.annotation?.revision ?? 0, status: a.annotation?.status ?? 'pending', duration_ms: a.annotation?.duration_ms ?? 0 }, readonlyNow());
        const image = imageFor(a.data_id, a.width, a.height, a.format);
        const l = { asset: a, doc, saver, image };
        host.doc = doc;
        if (host.image !== image) {
          host.image = image;
          stage.setImage(image);
        }
        setLoaded(l);
      },
      (e) => {
        if (!ac.signal.aborted) setLoadError(errorMessage(e));
      },
    );
    return () => ac.abort();
  }, [aid]);

  const readonlyNow = () => host.readonly;

  /* re-render the panel when the document or the save state changes (not on drag previews) */
  useEffect(() => {
    if (!loaded) return;
    let seq = loaded.doc.seq;
    const un1 = loaded.doc.subscribe(() => {
      if (loaded.doc.seq !== seq) {
        seq = loaded.doc.seq;
        const alive = new Set(loaded.doc.shapes.map((s) => s.uid));
        setSelected((sel) => (sel.every((u) => alive.has(u)) ? sel : sel.filter((u) => alive.has(u))));
        rerender();
      }
    });
    const un2 = loaded.saver.subscribe(() => {
      if (loaded.saver.saves) markGridStale(vid);
      rerender();
    });
    const un3 = loaded.image.subscribe(rerender);
    return () => {
      un1();
      un2();
      un3();
      /* leaving this asset: save what is left, say so if it could not be saved */
      const s = loaded.saver;
      const name = loaded.asset.filename;
      void s.flush().then(() => {
        if ((s.state === 'conflict' || s.state === 'error') && !s.discarded) toast(`Your changes to “${name}” were not saved: ${s.message}`, { kind: 'error' });
        if (s.saves) markGridStale(vid);
        s.dispose();
      });
    };
  }, [loaded]);

  /* a locked version (or a role) that turns out read-only once loaded */
  useEffect(() => {
    if (readonly && tool !== 'select') setTool('select');
  }, [readonly]);

  useEffect(
    () => () => {
      releaseImages();
    },
    [],
  );

  /* unsaved changes when the tab closes: the browser asks */
  useEffect(() => {
    const onBefore = (e: BeforeUnloadEvent) => {
      const l = current.current;
      if (l && l.saver.dirty && l.saver.state !== 'conflict') {
        void l.saver.flush();
        e.preventDefault();
      }
    };
    window.addEventListener('beforeunload', onBefore);
    return () => window.removeEventListener('beforeunload', onBefore);
  }, []);

  const nav = useNeighbours(did, vid, aid, q);
  /* the next image's original, ahead of time */
  useEffect(() => {
    if (loaded && nav.next) prefetch(nav.next.data_id, nav.next.width, nav.next.height, nav.next.format);
  }, [loaded, nav.next?.id]);

  const go = (step: 1 | -1) => {
    const to = step > 0 ? nav.next : nav.prev;
    if (!to) {
      toast(step > 0 ? 'This is the last image of the list.' : 'This is the first image of the list.');
      return;
    }
    nav.go(step, to);
  };

  /* --- actions ------------------------------------------------------------------------------------ */

  const doc = loaded?.doc ?? null;
  const selShapes = (): Shape[] => {
    const set = new Set(selected);
    return doc ? doc.shapes.filter((s) => set.has(s.uid)) : [];
  };

  const pickLabel = (l: Label) => {
    setLabelName(l.name);
    const sel = selShapes().filter((s) => s.label !== l.name);
    if (sel.length && !host.readonly) {
      const pairs = sel.map((before) => ({ before, after: { ...before, label: l.name } }));
      exec(replaceShapes(pairs, `label ${pairs.length === 1 ? pairs[0].before.kind : pairs.length + ' shapes'} ${l.name}`));
    }
  };

  const toggleTag = (l: Label) => {
    if (!doc || host.readonly) return;
    const have = doc.shapes.find((s) => s.kind === 'class' && s.label === l.name);
    if (have) exec(removeShapes(doc, [have.uid]));
    else exec(addShapes([{ uid: newUid(), kind: 'class', label: l.name }], `tag image ${l.name}`));
  };

  const deleteSelected = () => {
    if (!doc || !selected.length || host.readonly) return;
    exec(removeShapes(doc, selected));
    setSelected([]);
  };

  const copy = () => {
    const sel = selShapes();
    if (!sel.length || !loaded) return;
    clipboard = { assetId: loaded.asset.id, shapes: sel.map((s) => ({ ...s })) };
    toast(`Copied ${plural(sel.length, 'shape')}.`, { ms: 2000 });
  };

  const paste = () => {
    if (!clipboard || !loaded || host.readonly) return;
    const img = loaded.image;
    /* on the same image, a little offset so the copy is seen; elsewhere, in place */
    const off = clipboard.assetId === loaded.asset.id ? Math.max(8, Math.round(Math.min(img.w, img.h) / 50)) : 0;
    const shapes = duplicate(
      clipboard.shapes.filter((s) => s.kind !== 'class' || !loaded.doc.shapes.some((x) => x.kind === 'class' && x.label === s.label)),
      off,
      off,
      img.w,
      img.h,
    );
    if (!shapes.length) return;
    exec(addShapes(shapes, `paste ${plural(shapes.length, 'shape')}`));
    setSelected(shapes.filter((s) => s.kind !== 'class').map((s) => s.uid));
  };

  const setStatus = (s: Status) => {
    if (!loaded || host.readonly) return;
    loaded.saver.setStatus(s);
    rerender();
  };

  const undo = () => {
    if (!doc || host.readonly) return;
    if (stage.cancelDraft()) return;
    const c = doc.undo();
    if (c) toast(`Undid ${c.name}.`, { ms: 1500 });
  };
  const redo = () => {
    if (!doc || host.readonly) return;
    const c = doc.redo();
    if (c) toast(`Redid ${c.name}.`, { ms: 1500 });
  };

  const chooseTool = (t: Tool) => {
    if (host.readonly && t !== 'select') {
      toast(readonlyReason(version.data?.locked ? version.data : null, me?.role));
      return;
    }
    stage.cancelDraft();
    if (t === 'keypoints' && !(label?.keypoints?.length)) {
      const kl = labels?.find((l) => l.keypoints?.length);
      if (kl) setLabelName(kl.name);
      else toast('No label of this version has keypoints. Add one with a skeleton in the version’s Labels dialog.');
    }
    setTool(t);
  };

  const reloadTheirs = () => {
    const l = loaded;
    if (!l) return;
    /* keep the user's work at hand: their shapes go to the clipboard */
    clipboard = { assetId: -1, shapes: l.doc.shapes.map((s) => ({ ...s })) };
    l.saver.discarded = true;
    setLoaded(null);
    assets.get(aid).then(
      (a) => {
        const doc2 = new Doc((a.shapes ?? []).map(fromApi));
        const saver = new Saver(aid, doc2, { revision: a.annotation?.revision ?? 0, status: a.annotation?.status ?? 'pending', duration_ms: a.annotation?.duration_ms ?? 0 }, readonlyNow());
        host.doc = doc2;
        setLoaded({ asset: a, doc: doc2, saver, image: l.image });
        toast(`Reloaded revision ${a.annotation?.revision ?? 0}. Your shapes are in the clipboard: Ctrl+V pastes them.`, { kind: 'success' });
      },
      (e) => toast(errorMessage(e), { kind: 'error' }),
    );
  };

  /* --- keyboard ------------------------------------------------------------------------------------------ */

  const keyRef = useRef<(e: KeyboardEvent) => void>(() => {});
  keyRef.current = (e: KeyboardEvent) => {
    if (e.defaultPrevented) return;
    if ((e.target as Element | null)?.closest?.('dialog')) return;
    if (isTyping(e)) return;
    loaded?.saver.touch();
    const k = e.key;
    const mod = e.ctrlKey || e.metaKey;
    let handled = true;
    if (mod && !e.altKey) {
      switch (k.toLowerCase()) {
        case 'z':
          if (e.shiftKey) redo();
          else undo();
          break;
        case 'y':
          redo();
          break;
        case 'c':
          copy();
          break;
        case 'v':
          paste();
          break;
        case 'a':
          setSelected(stage.visibleShapes().map((s) => s.uid));
          break;
        case 's':
          void loaded?.saver.flush();
          break;
        default:
          handled = false;
      }
    } else if (e.altKey) {
      handled = false;
    } else if (e.shiftKey && /^[ARSP]$/.test(k)) {
      setStatus(({ A: 'accepted', R: 'rejected', S: 'skipped', P: 'pending' } as const)[k as 'A' | 'R' | 'S' | 'P']);
    } else {
      switch (k) {
        case 'v': case 'V': chooseTool('select'); break;
        case 'r': chooseTool('box'); break;
        case 'p': chooseTool('polygon'); break;
        case 'l': chooseTool('polyline'); break;
        case 'o': chooseTool('point'); break;
        case 'k': chooseTool('keypoints'); break;
        case 't':
          if (label) toggleTag(label);
          break;
        case 'x':
          stage.skipKeypoint();
          break;
        case 'h':
          setHidden((h) => !h);
          break;
        case '/':
          searchRef.current?.focus();
          searchRef.current?.select();
          break;
        case '?':
          setHelp(true);
          break;
        case 'Delete':
          deleteSelected();
          break;
        case 'Backspace':
          if (!stage.undoDraftPoint()) deleteSelected();
          break;
        case 'Enter':
          if (!stage.finishDraft()) handled = false;
          break;
        case 'Escape':
          if (!stage.cancelDraft()) {
            if (selected.length) setSelected([]);
            else handled = false;
          }
          break;
        case 'ArrowLeft': case 'ArrowRight': case 'ArrowUp': case 'ArrowDown': {
          const d = e.shiftKey ? 10 : 1;
          const [dx, dy] = k === 'ArrowLeft' ? [-d, 0] : k === 'ArrowRight' ? [d, 0] : k === 'ArrowUp' ? [0, -d] : [0, d];
          if (!selected.length || host.readonly) {
            if (k === 'ArrowLeft') go(-1);
            else if (k === 'ArrowRight') go(1);
            else handled = false;
          } else stage.nudge(dx, dy);
          break;
        }
        case 'f': go(1); break;
        case 'd': go(-1); break;
        case '0': stage.fit(); break;
        case 'z': stage.actualSize(); break;
        case '+': case '=': stage.zoomBy(1.25); break;
        case '-': case '_': stage.zoomBy(0.8); break;
        default:
          if (/^[1-9]$/.test(k) && labels) {
            const l = labels[Number(k) - 1];
            if (l) pickLabel(l);
          } else handled = false;
      }
    }
    if (handled) e.preventDefault();
  };
  useEffect(() => {
    const on = (e: KeyboardEvent) => keyRef.current(e);
    document.addEventListener('keydown', on);
    return () => document.removeEventListener('keydown', on);
  }, []);

  /* --- render ------------------------------------------------------------------------------------ */

  const v = version.data;
  const listUrl = currentVBrowse()?.version === vid && currentVBrowse()?.listUrl ? currentVBrowse()!.listUrl : v ? versionUrl(v) : `/datasets/${did}/versions/${vid}`;
  const shapes = doc?.shapes ?? [];
  const preds = shapes.filter((s) => s.score !== undefined && s.score !== null);
  const saver = loaded?.saver;
  const img = loaded?.image ?? host.image;

  return (
    <div class="page page-fill annot" data-testid="annotate">
      <header class="annot-top">
        <div class="annot-title">
          <nav aria-label="Breadcrumb" class="crumbs">
            <a href="/datasets">Datasets</a>
            <span aria-hidden="true"> / </span>
            <a href={`/datasets/${did}`}>{v?.dataset ?? '…'}</a>
            <span aria-hidden="true"> / </span>
            <a href={listUrl}>{v?.name ?? '…'}</a>
          </nav>
          <h1 class="page-title annot-h1" tabIndex={-1} title={loaded?.asset.filename}>
            {loaded?.asset.filename ?? (loadError ? 'Asset not found' : 'Loading…')}
          </h1>
        </div>
        <div class="annot-nav">
          <button type="button" class="button button-small" onClick={() => go(-1)} disabled={!nav.prev} aria-keyshortcuts="D" title="Previous image (D)">
            ← Previous
          </button>
          <span class="annot-pos muted" data-testid="annot-pos">
            {nav.index !== null && nav.count !== null ? `${(nav.index + 1).toLocaleString()} of ${nav.count.toLocaleString()}` : ''}
          </span>
          <button type="button" class="button button-small" onClick={() => go(1)} disabled={!nav.next} aria-keyshortcuts="F" title="Next image (F)">
            Next →
          </button>
        </div>
        <div class="segmented annot-status" role="group" aria-label="Review status">
          {STATUSES.map((s) => (
            <button key={s} type="button" aria-pressed={saver?.status === s} disabled={!loaded || host.readonly} onClick={() => setStatus(s)} title={`Status: ${s} (Shift+${s[0].toUpperCase()})`}>
              {s}
            </button>
          ))}
        </div>
        <SaveIndicator saver={saver ?? null} readonly={readonly} />
        <button type="button" class="button button-small" onClick={() => setHelp(true)} aria-keyshortcuts="?">
          Shortcuts (?)
        </button>
      </header>
      {loadError && <ErrorBox message={loadError} />}
      {labelsError && <ErrorBox message={labelsError} onRetry={() => void reloadLabels()} />}
      {saver?.state === 'conflict' && (
        <div class="annot-conflict" role="alert" data-testid="conflict">
          <p>
            <strong>Not saved:</strong> {saver.message}
          </p>
          <p class="muted">Nothing was overwritten. Reload their revision; your shapes go to the clipboard, so Ctrl+V puts them back on top.</p>
          <button type="button" class="button button-primary button-small" onClick={reloadTheirs}>
            Reload their revision
          </button>
        </div>
      )}
      {readonly && v && <p class="annot-readonly muted">{readonlyReason(v.locked ? v : null, me?.role)}</p>}
      <div class="annot-main">
        <div class="annot-tools" role="toolbar" aria-label="Tools" aria-orientation="vertical">
          {TOOLS.map((t) => (
            <button
              key={t.tool}
              type="button"
              class="annot-tool"
              aria-pressed={tool === t.tool}
              aria-keyshortcuts={t.key}
              title={`${t.name} (${t.key})`}
              aria-label={`${t.name} (${t.key})`}
              disabled={host.readonly && t.tool !== 'select'}
              onClick={() => {
                chooseTool(t.tool);
                canvasRef.current?.focus({ preventScroll: true });
              }}
            >
              {t.icon}
              <kbd aria-hidden="true">{t.key}</kbd>
            </button>
          ))}
          <span class="annot-tools-sep" />
          <button type="button" class="annot-tool" onClick={undo} disabled={!doc?.canUndo() || host.readonly} title={doc?.undoName() ? `Undo ${doc.undoName()} (Ctrl+Z)` : 'Undo (Ctrl+Z)'} aria-label="Undo">
            <span aria-hidden="true">↶</span>
          </button>
          <button type="button" class="annot-tool" onClick={redo} disabled={!doc?.canRedo() || host.readonly} title={doc?.redoName() ? `Redo ${doc.redoName()} (Ctrl+Shift+Z)` : 'Redo (Ctrl+Shift+Z)'} aria-label="Redo">
            <span aria-hidden="true">↷</span>
          </button>
          <span class="annot-tools-sep" />
          <button type="button" class="annot-tool" onClick={() => stage.zoomBy(1.25)} title="Zoom in (+)" aria-label="Zoom in">
            +
          </button>
          <button type="button" class="annot-tool" onClick={() => stage.zoomBy(0.8)} title="Zoom out (−)" aria-label="Zoom out">
            −
          </button>
          <button type="button" class="annot-tool annot-tool-text" onClick={() => stage.fit()} title="Fit (0)" aria-label="Fit the image">
            Fit
          </button>
          <button type="button" class="annot-tool annot-tool-text" onClick={() => stage.actualSize()} title="Actual size (Z)" aria-label="Actual size">
            1:1
          </button>
          <ZoomText store={viewStore} />
        </div>
        <div class="annot-canvas" data-image-state={img?.state ?? 'loading'}>
          <canvas ref={canvasRef} tabIndex={0} aria-label={loaded ? `Image ${loaded.asset.filename}, ${plural(shapes.length, 'shape')}` : 'Image'} data-testid="annot-canvas" />
          <DraftHint draft={draft} tool={tool} label={label} readonly={host.readonly} />
          {img?.note && <p class="annot-note">{img.note}</p>}
          {img && img.state !== 'original' && !img.note && (
            <p class="annot-loading" role="status">
              {img.state === 'failed' ? 'The image could not be loaded.' : 'Loading the full-size image…'}
            </p>
          )}
        </div>
        <aside class="annot-side" aria-label="Labels and shapes">
          <LabelPicker
            labels={labels}
            current={label}
            shapes={shapes}
            searchRef={searchRef}
            canCreate={can(me?.role, 'write') && !v?.locked}
            onPick={pickLabel}
            onCreate={async (name) => {
              try {
                const l = await versions.createLabel(vid, { name });
                await reloadLabels();
                setLabelName(l.name);
                toast(`Label “${l.name}” created.`, { kind: 'success' });
              } catch (e) {
                toast(errorMessage(e), { kind: 'error' });
              }
            }}
          />
          <ClassTags labels={labels ?? []} shapes={shapes} readonly={host.readonly} onToggle={toggleTag} />
          <ShapeList
            shapes={shapes}
            selected={selected}
            byName={byName}
            threshold={threshold}
            readonly={host.readonly}
            onSelect={(uids) => setSelected(uids)}
            onDelete={(uid) => doc && exec(removeShapes(doc, [uid]))}
            onAccept={(s) => exec(replaceShapes([{ before: s, after: { ...s, score: null } }], `accept ${s.kind} prediction`))}
          />
          {preds.length > 0 && (
            <section class="annot-section" aria-labelledby="pred-title">
              <h2 id="pred-title">Predictions</h2>
              <label class="annot-slider">
                <span>
                  Hide scores under <strong data-testid="threshold">{threshold.toFixed(2)}</strong>
                </span>
                <input type="range" min={0} max={1} step={0.01} value={threshold} onInput={(e) => setThreshold(Number((e.target as HTMLInputElement).value))} aria-label="Score threshold" />
              </label>
              <p class="muted">
                {preds.filter((s) => s.score! >= threshold).length} of {preds.length} shown. Dashed outlines are predictions; accept one to make it an annotation.
              </p>
            </section>
          )}
        </aside>
      </div>
      <HelpDialog open={help} onClose={() => setHelp(false)} />
    </div>
  );
}

function readonlyReason(locked: { locked_by: string | null; name: string } | null, role: string | undefined): string {
  if (locked) return `Version “${locked.name}” is locked${locked.locked_by ? ` by ${locked.locked_by}` : ''}: you can look, not change. Unlock it, or fork it, to annotate.`;
  return `Your role (${role ?? 'viewer'}) can look at annotations but not change them.`;
}

function markGridStale(vid: number) {
  const b = currentVBrowse();
  if (b && b.version === vid && !b.stale) {
    b.stale = true;
    b.onStale?.();
  }
}

function findInCache(b: NonNullable<ReturnType<typeof currentVBrowse>>, aid: number): Asset | null {
  const at = b.cache.get(b.active);
  if (at?.id === aid) return at;
  return null;
}

/** Previous and next assets: from the grid's page cache when the tool was opened from it, else from the API by id. */
function useNeighbours(did: number, vid: number, aid: number, q: string) {
  const b = currentVBrowse();
  const [, setV] = useState(0);
  const inList = !!b && b.version === vid && b.cache.get(b.active)?.id === aid;
  const [api, setApi] = useState<{ aid: number; prev: Asset | null; next: Asset | null } | null>(null);
  useEffect(() => {
    if (!b || !inList) return;
    const un = b.cache.subscribe(() => setV(b.cache.version));
    b.cache.want(Math.max(0, b.active - 1), b.active + 2);
    return un;
  }, [b, inList, aid]);
  useEffect(() => {
    if (inList) return;
    const ac = new AbortController();
    const and = (x: string) => (q.trim() ? `(${q}) and ${x}` : x);
    Promise.all([
      versions.assets(vid, and(`id < ${aid}`), '-id', null, 1, ac.signal),
      versions.assets(vid, and(`id > ${aid}`), 'id', null, 1, ac.signal),
    ]).then(
      ([p, n]) => setApi({ aid, prev: p.items[0] ?? null, next: n.items[0] ?? null }),
      () => {
        /* no neighbours: the buttons stay disabled */
      },
    );
    return () => ac.abort();
  }, [inList, aid, vid, q]);
  const search = q ? `?q=${encodeURIComponent(q)}` : '';
  if (b && inList) {
    const prev = b.active > 0 ? (b.cache.get(b.active - 1) ?? null) : null;
    const next = b.active + 1 < (b.cache.count ?? 0) ? (b.cache.get(b.active + 1) ?? null) : null;
    return {
      prev,
      next,
      index: b.active as number | null,
      count: b.cache.count,
      go: (step: number, to: Asset) => {
        b.active += step;
        b.cache.want(Math.max(0, b.active - 1), b.active + 2);
        navigate(annotateUrl(did, vid, to.id) + search, { replace: true });
      },
    };
  }
  const cur = api && api.aid === aid ? api : null;
  return {
    prev: cur?.prev ?? null,
    next: cur?.next ?? null,
    index: null as number | null,
    count: null as number | null,
    go: (_step: number, to: Asset) => navigate(annotateUrl(did, vid, to.id) + search, { replace: true }),
  };
}

function ZoomText({ store }: { store: Store<View> }) {
  const v = useStore(store);
  return (
    <span class="annot-zoom muted" data-testid="zoom">
      {Math.round(v.scale * 100)}%
    </span>
  );
}

function SaveIndicator({ saver, readonly }: { saver: Saver | null; readonly: boolean }) {
  if (readonly) return <span class="annot-save muted">Read only</span>;
  if (!saver) return <span class="annot-save muted">…</span>;
  const rev = `revision ${saver.revision}`;
  switch (saver.state) {
    case 'saved':
      return (
        <span class="annot-save annot-save-ok" data-testid="save-state" data-state="saved" title={saver.savedAt ? `Saved at ${new Date(saver.savedAt).toLocaleTimeString()}` : undefined}>
          {saver.revision ? `Saved · ${rev}` : 'No annotation yet'}
        </span>
      );
    case 'dirty':
      return (
        <span class="annot-save" data-testid="save-state" data-state="dirty">
          Unsaved changes…
        </span>
      );
    case 'saving':
      return (
        <span class="annot-save" data-testid="save-state" data-state="saving">
          Saving…
        </span>
      );
    case 'conflict':
      return (
        <span class="annot-save annot-save-bad" data-testid="save-state" data-state="conflict">
          Conflict: not saved
        </span>
      );
    case 'error':
      return (
        <span class="annot-save annot-save-bad" data-testid="save-state" data-state="error" role="alert">
          Not saved: {saver.message}{' '}
          <button type="button" class="button-link button-tiny" onClick={() => saver.retry()}>
            retry
          </button>
        </span>
      );
  }
}

function DraftHint({ draft, tool, label, readonly }: { draft: Draft | null; tool: Tool; label: Label | null; readonly: boolean }) {
  let text: string | null = null;
  if (readonly) text = null;
  else if (draft?.kind === 'keypoints') {
    const names = draft.label.keypoints ?? [];
    text = `${draft.label.name}: click “${names[draft.next]}” (${draft.next + 1} of ${names.length}) · Shift-click: hidden · X: skip · Enter: done · Backspace: back`;
  } else if (draft?.kind === 'polygon') text = `Polygon: ${draft.pts.length / 2} vertices · click the first vertex, double-click or Enter to close · Backspace: remove the last · Esc: cancel`;
  else if (draft?.kind === 'polyline') text = `Polyline: ${draft.pts.length / 2} vertices · double-click or Enter to finish · Backspace: remove the last · Esc: cancel`;
  else if (tool === 'keypoints') text = label?.keypoints?.length ? `Keypoints of “${label.name}”: click “${label.keypoints[0]}” first` : 'Keypoints: pick a label that has a skeleton';
  else if (tool === 'box') text = label ? `Rectangle: drag to draw a “${label.name}”` : 'Pick a label first';
  if (!text) return null;
  return (
    <p class="annot-hint" role="status">
      {text}
    </p>
  );
}

function LabelPicker(p: {
  labels: Label[] | null;
  current: Label | null;
  shapes: Shape[];
  searchRef: { current: HTMLInputElement | null };
  canCreate: boolean;
  onPick: (l: Label) => void;
  onCreate: (name: string) => void;
}) {
  const [text, setText] = useState('');
  const all = p.labels ?? [];
  const t = text.trim().toLowerCase();
  const shown = t ? all.filter((l) => l.name.toLowerCase().includes(t) || (l.group ?? '').toLowerCase().includes(t)) : all;
  const counts = new Map<string, number>();
  for (const s of p.shapes) if (s.kind !== 'class') counts.set(s.label, (counts.get(s.label) ?? 0) + 1);
  const exact = all.some((l) => l.name.toLowerCase() === t);
  return (
    <section class="annot-section" aria-labelledby="labels-title">
      <h2 id="labels-title">Labels</h2>
      <input
        ref={(el) => {
          p.searchRef.current = el;
        }}
        type="search"
        class="annot-search"
        placeholder="Search labels ( / )"
        aria-label="Search labels"
        value={text}
        onInput={(e) => setText((e.target as HTMLInputElement).value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter') {
            e.preventDefault();
            if (shown[0]) p.onPick(shown[0]);
            else if (t && p.canCreate) p.onCreate(text.trim());
            setText('');
            (e.target as HTMLInputElement).blur();
          } else if (e.key === 'Escape') {
            e.preventDefault();
            setText('');
            (e.target as HTMLInputElement).blur();
          }
        }}
      />
      {p.labels === null ? (
        <p class="muted">Loading…</p>
      ) : (
        <ul class="annot-labels" data-testid="labels">
          {shown.map((l) => {
            const n = all.indexOf(l) + 1;
            return (
              <li key={l.id}>
                <button type="button" class="annot-label" aria-pressed={p.current?.id === l.id} onClick={() => p.onPick(l)} title={l.keypoints?.length ? `${l.keypoints.length} keypoints` : undefined}>
                  <span class="swatch" style={{ background: l.color }} aria-hidden="true" />
                  <span class="annot-label-name">{l.name}</span>
                  {l.keypoints?.length ? <span class="chip chip-small">{l.keypoints.length} kp</span> : null}
                  {counts.get(l.name) ? <span class="chip-count">{counts.get(l.name)}</span> : null}
                  {n <= 9 && <kbd>{n}</kbd>}
                </button>
              </li>
            );
          })}
        </ul>
      )}
      {t && !exact && p.canCreate && (
        <button type="button" class="button button-small" onClick={() => { p.onCreate(text.trim()); setText(''); }}>
          Create label “{text.trim()}”
        </button>
      )}
      {p.labels?.length === 0 && !t && <p class="muted">This version has no labels yet. Type a name above and press Enter to create one.</p>}
    </section>
  );
}

function ClassTags({ labels, shapes, readonly, onToggle }: { labels: Label[]; shapes: Shape[]; readonly: boolean; onToggle: (l: Label) => void }) {
  if (!labels.length) return null;
  const on = new Set(shapes.filter((s) => s.kind === 'class').map((s) => s.label));
  return (
    <section class="annot-section" aria-labelledby="tags-title">
      <h2 id="tags-title">Image tags</h2>
      <div class="annot-tags" role="group" aria-label="Whole-image labels (classification)">
        {labels.map((l) => (
          <button key={l.id} type="button" class={'chip chip-button' + (on.has(l.name) ? ' chip-on' : '')} aria-pressed={on.has(l.name)} disabled={readonly} onClick={() => onToggle(l)}>
            <span class="swatch swatch-small" style={{ background: l.color }} aria-hidden="true" />
            {l.name}
          </button>
        ))}
      </div>
    </section>
  );
}

function ShapeList(p: {
  shapes: Shape[];
  selected: number[];
  byName: Map<string, Label>;
  threshold: number;
  readonly: boolean;
  onSelect: (uids: number[]) => void;
  onDelete: (uid: number) => void;
  onAccept: (s: Shape) => void;
}) {
  const list = p.shapes.filter((s) => s.kind !== 'class');
  return (
    <section class="annot-section annot-shapes" aria-labelledby="shapes-title">
      <h2 id="shapes-title">
        Shapes <span class="chip-count">{list.length}</span>
      </h2>
      {list.length === 0 ? (
        <p class="muted">None yet. Pick a tool (R, P, L, O, K) and draw on the image.</p>
      ) : (
        <ul class="annot-shape-list" data-testid="shape-list">
          {list.map((s) => {
            const l = p.byName.get(s.label);
            const pred = s.score !== undefined && s.score !== null;
            const hiddenByScore = pred && s.score! < p.threshold;
            const b = bounds(s);
            return (
              <li key={s.uid} class={(p.selected.includes(s.uid) ? 'annot-shape-on ' : '') + (hiddenByScore ? 'annot-shape-hidden' : '')} data-kind={s.kind}>
                <button type="button" class="annot-shape" onClick={(e) => p.onSelect(e.shiftKey ? [...p.selected, s.uid] : [s.uid])} aria-pressed={p.selected.includes(s.uid)}>
                  <span class="swatch" style={{ background: l?.color ?? '#888', color: textOn(l?.color ?? '#888') }} aria-hidden="true" />
                  <span class="annot-shape-label">{s.label}</span>
                  <span class="muted">{s.kind}</span>
                  {pred && <span class={'chip chip-small' + (hiddenByScore ? '' : ' chip-on')}>{s.score!.toFixed(2)}</span>}
                  {b && s.kind === 'box' && <span class="muted annot-dims">{Math.round(b[2])}×{Math.round(b[3])}</span>}
                </button>
                {pred && !p.readonly && (
                  <button type="button" class="button-link button-tiny" onClick={() => p.onAccept(s)} title="Keep this prediction as an annotation (drops its score)">
                    accept
                  </button>
                )}
                {!p.readonly && (
                  <button type="button" class="chip-x" aria-label={`Delete ${s.kind} ${s.label}`} onClick={() => p.onDelete(s.uid)}>
                    ×
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

const MODIFIERS = new Set(['Ctrl', 'Shift', 'Alt', 'Space']);

function HelpDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  return (
    <Dialog open={open} title="Keyboard shortcuts" onClose={onClose} wide>
      <div class="annot-help">
        {SHORTCUT_GROUPS.map((g) => (
          <section key={g.title}>
            <h3>{g.title}</h3>
            <table class="annot-keys">
              <tbody>
                {g.items.map((s) => (
                  <tr key={s.what}>
                    <th scope="row">
                      {s.keys.map((k, i) => (
                        <span key={i}>
                          {i > 0 ? (MODIFIERS.has(s.keys[0]) ? ' + ' : ' ') : ''}
                          {k === '…' ? '…' : <kbd>{k}</kbd>}
                        </span>
                      ))}
                    </th>
                    <td>{s.what}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        ))}
      </div>
    </Dialog>
  );
}
