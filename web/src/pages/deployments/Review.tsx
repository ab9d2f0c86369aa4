/*
 * Review.tsx - /deployments/:did/predictions/:id: review one prediction. The
 * image (when it was stored) with the predicted boxes over it, dashed with
 * their label and score; the boxes and classes as a list where each can be
 * relabelled, accepted (its score dropped: a person vouches for it) or
 * deleted; new boxes are drawn by dragging on the image. "Save review"
 * sends the corrected output (PUT /predictions/{id}/review: status becomes
 * reviewed), "Submit" submits it (final). The annotation tool is not reused:
 * it edits dataset assets (revisions, autosave, labels of a version), while a
 * prediction's review is one output document saved at once.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { PageHeader } from '../../components/Bits';
import { ErrorBox } from '../../components/Table';
import { toast } from '../../components/Toasts';
import { errorMessage } from '../../lib/api';
import { deploy, type OutBox, type OutClass, type Output, type Prediction } from '../../lib/deploy';
import { formatTime } from '../../lib/format';
import { useLoad } from '../../lib/hooks';
import { can } from '../../lib/roles';
import { navigate, useLocation } from '../../lib/router';
import { currentMe } from '../../lib/session';
import type { PageProps } from '../../routes';
import { fmtNum, VersionRef } from './bits';
import './deploy.css';

/** The editable copy: a saved review is a person's output, so its shapes are accepted (the API stores them with score 1). */
function copyOut(o: Output | null, reviewed: boolean): { boxes: OutBox[]; classes: OutClass[] } {
  const s = (x: number | null | undefined) => (reviewed ? null : x);
  return { boxes: (o?.boxes ?? []).map((b) => ({ ...b, score: s(b.score) })), classes: (o?.classes ?? []).map((c) => ({ ...c, score: s(c.score) })) };
}

export function ReviewPage({ params }: PageProps) {
  const did = Number(params.did);
  const id = Number(params.id);
  const loc = useLocation();
  const pred = useLoad((s) => deploy.prediction(id, s), [id]);
  const dep = useLoad((s) => deploy.get(did, s), [did]);
  const p = pred.data;
  const back = `/deployments/${did}/predictions${loc.query.toString() ? '?' + loc.query.toString() : ''}`;
  return (
    <div class="page">
      <PageHeader
        crumbs={[
          { href: '/deployments', label: 'Deployments' },
          { href: `/deployments/${did}`, label: dep.data?.name ?? 'Deployment' },
          { href: back, label: 'Predictions' },
        ]}
        title={`Prediction ${id}`}
        subtitle={p && <>{formatTime(p.at)} · {fmtNum(p.latency_ms)} ms · champion <VersionRef id={p.champion_version_id} />{p.source ? ` · from ${p.source}` : ''} · <span class={`badge badge-${p.status}`}>{p.status.replace('_', ' ')}</span></>}
      />
      {pred.error && <ErrorBox message={pred.error} onRetry={pred.reload} />}
      {p && <ReviewEditor key={`${p.id}-${p.status}`} p={p} did={did} back={back} onSaved={(np) => pred.setData(np)} reload={pred.reload} />}
    </div>
  );
}

interface Drag {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

function ReviewEditor({ p, did, back, onSaved, reload }: { p: Prediction; did: number; back: string; onSaved: (p: Prediction) => void; reload: () => void }) {
  const me = currentMe();
  const readOnly = !can(me?.role, 'annotate') || p.status === 'submitted';
  const [doc, setDoc] = useState(() => copyOut(p.review ?? p.output, !!p.review));
  const [dirty, setDirty] = useState(false);
  const [sel, setSel] = useState<number | null>(null);
  const [newLabel, setNewLabel] = useState(() => p.top_label ?? '');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const [drag, setDrag] = useState<Drag | null>(null);
  const [size, setSize] = useState<[number, number]>([p.features?.width ?? 0, p.features?.height ?? 0]);
  const svg = useRef<SVGSVGElement>(null);
  // a label being typed lives in the document at every keystroke (a render
  // in between, e.g. the image's size arriving, must not put the old label
  // back); leaving the field trims it, or restores the label it had
  const before = useRef('');
  const change = (fn: (d: { boxes: OutBox[]; classes: OutClass[] }) => void) => {
    setDoc((d) => {
      const n = { boxes: d.boxes.map((b) => ({ ...b })), classes: d.classes.map((c) => ({ ...c })) };
      fn(n);
      return n;
    });
    setDirty(true);
  };
  const keys = useRef<{ save: () => void; next: () => void }>({ save: () => undefined, next: () => undefined });
  // the key handler reads the selection of the last render, not the one of
  // the render that registered it (a key pressed right after a click must
  // act on the box the click selected)
  const live = useRef({ sel, len: doc.boxes.length });
  live.current = { sel, len: doc.boxes.length };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (readOnly) return;
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') {
        e.preventDefault();
        keys.current.save();
        return;
      }
      const t = e.target as HTMLElement;
      if (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA' || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === 'n' || e.key === 'N') {
        e.preventDefault();
        keys.current.next();
        return;
      }
      const { sel, len } = live.current;
      if (sel === null || sel >= len) return;
      if (e.key === 'Delete' || e.key === 'Backspace') {
        e.preventDefault();
        change((d) => d.boxes.splice(sel, 1));
        setSel(null);
      } else if (e.key === 'a' || e.key === 'A') {
        e.preventDefault();
        change((d) => (d.boxes[sel].score = null));
      } else if (e.key === 'Escape') {
        setSel(null);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [readOnly]);

  const toImage = (e: PointerEvent): [number, number] => {
    const s = svg.current!;
    const m = s.getScreenCTM();
    if (!m) return [0, 0];
    const pt = new DOMPoint(e.clientX, e.clientY).matrixTransform(m.inverse());
    return [Math.max(0, Math.min(size[0], pt.x)), Math.max(0, Math.min(size[1], pt.y))];
  };
  const onDown = (e: PointerEvent) => {
    if (readOnly || e.button !== 0) return;
    if ((e.target as Element).tagName === 'rect' && (e.target as Element).getAttribute('data-box') !== null) return;
    const [x, y] = toImage(e);
    (e.currentTarget as Element).setPointerCapture(e.pointerId);
    setDrag({ x0: x, y0: y, x1: x, y1: y });
  };
  const onMove = (e: PointerEvent) => {
    if (!drag) return;
    const [x, y] = toImage(e);
    setDrag({ ...drag, x1: x, y1: y });
  };
  const onUp = () => {
    if (!drag) return;
    const x = Math.min(drag.x0, drag.x1);
    const y = Math.min(drag.y0, drag.y1);
    const w = Math.abs(drag.x1 - drag.x0);
    const h = Math.abs(drag.y1 - drag.y0);
    setDrag(null);
    if (w < 3 || h < 3) return;
    if (!newLabel.trim()) {
      setErr('Type the label of the new box first (“Label for new boxes”).');
      return;
    }
    setErr(null);
    change((d) => d.boxes.push({ x: Math.round(x), y: Math.round(y), w: Math.round(w), h: Math.round(h), label: newLabel.trim() }));
    setSel(doc.boxes.length);
  };

  const save = async () => {
    setBusy(true);
    setErr(null);
    try {
      const out: Output = {
        classes: doc.classes.map((c) => (c.score == null ? { label: c.label } : { label: c.label, score: c.score })),
        boxes: doc.boxes.map((b) => (b.score == null ? { x: b.x, y: b.y, w: b.w, h: b.h, label: b.label } : { ...b })),
      };
      const np = await deploy.review(p.id, out);
      setDirty(false);
      toast('Review saved');
      if (np && (np as Prediction).id) onSaved(np as Prediction);
      else reload();
    } catch (e) {
      setErr(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };
  const submit = async () => {
    setBusy(true);
    try {
      const r = await deploy.submit(did, [p.id]);
      toast(`${r.submitted} review submitted`);
      reload();
    } catch (e) {
      setErr(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };
  const nextToReview = async () => {
    try {
      const page = await deploy.predictions(did, { status: 'to_review' }, null, undefined, 2);
      const next = page.items.find((x) => x.id !== p.id);
      if (next) navigate(`/deployments/${did}/predictions/${next.id}`);
      else toast('Nothing left to review.');
    } catch (e) {
      setErr(errorMessage(e));
    }
  };
  keys.current = { save: () => void save(), next: () => void nextToReview() };
  const [w, h] = size;
  const d = drag && { x: Math.min(drag.x0, drag.x1), y: Math.min(drag.y0, drag.y1), w: Math.abs(drag.x1 - drag.x0), h: Math.abs(drag.y1 - drag.y0) };
  return (
    <div class="review">
      <div>
        <div class="review-stage">
          <div class="review-frame">
            {p.data_id ? (
              <img
                src={`/api/v1/data/${p.data_id}/original`}
                alt={`Image of prediction ${p.id}`}
                onLoad={(e) => {
                  const im = e.target as HTMLImageElement;
                  if (!w || !h) setSize([im.naturalWidth, im.naturalHeight]);
                }}
              />
            ) : (
              <div class="muted" style={{ width: '480px', aspectRatio: w && h ? `${w} / ${h}` : '4 / 3', lineHeight: 1.4, color: '#aaa', padding: '8px' }}>
                The image was not stored (the deployment's sampling rate left it out); the boxes are drawn on its size.
              </div>
            )}
            {w > 0 && h > 0 && (
              <svg
                ref={svg}
                data-testid="review-svg"
                viewBox={`0 0 ${w} ${h}`}
                preserveAspectRatio="xMidYMid meet"
                style={{ inset: 0, width: '100%', height: '100%', touchAction: 'none' }}
                onPointerDown={onDown}
                onPointerMove={onMove}
                onPointerUp={onUp}
              >
                {doc.boxes.map((b, i) => (
                  <g key={i}>
                    <rect
                      data-box={i}
                      x={b.x}
                      y={b.y}
                      width={b.w}
                      height={b.h}
                      fill={sel === i ? 'rgb(245 158 11 / 20%)' : 'transparent'}
                      stroke={b.score == null ? '#22c55e' : '#f59e0b'}
                      stroke-width={sel === i ? 3 : 2}
                      vector-effect="non-scaling-stroke"
                      stroke-dasharray={b.score != null ? '6 4' : undefined}
                      style={{ cursor: 'pointer' }}
                      onClick={() => setSel(i)}
                    />
                    <text x={b.x + 2} y={Math.max(12, b.y - 3)} fill={b.score == null ? '#22c55e' : '#f59e0b'} font-size={Math.max(10, h / 30)} style={{ pointerEvents: 'none' }}>
                      {b.label}
                      {b.score != null ? ` ${b.score.toFixed(2)}` : ''}
                    </text>
                  </g>
                ))}
                {d && <rect x={d.x} y={d.y} width={d.w} height={d.h} fill="none" stroke="#38bdf8" stroke-width="2" vector-effect="non-scaling-stroke" />}
              </svg>
            )}
          </div>
        </div>
        <p class="muted">
          Dashed: predicted (with its score). Solid green: accepted or drawn by a person. {readOnly ? '' : 'Drag on the image to draw a box; click a box to select it. Keys: A accepts the selected box, Delete removes it, Esc unselects, Ctrl+S saves, N opens the next to review.'}
        </p>
      </div>
      <aside class="card">
        <h2>Review</h2>
        {p.status === 'submitted' && <p class="notice">Submitted: a submitted review is final.</p>}
        {p.error && <p class="form-error">The model failed on this image.</p>}
        <h3>Boxes ({doc.boxes.length})</h3>
        <ul class="review-shapes" aria-label="Boxes">
          {doc.boxes.map((b, i) => (
            <li key={i} class={sel === i ? 'selected' : undefined} onClick={() => setSel(i)}>
              <input
                type="text"
                aria-label={`Label of box ${i + 1}`}
                value={b.label}
                disabled={readOnly}
                onFocus={() => (before.current = b.label)}
                onInput={(e) => { const v = (e.currentTarget as HTMLInputElement).value; change((x) => (x.boxes[i].label = v)); }}
                onChange={(e) => { const v = (e.currentTarget as HTMLInputElement).value.trim() || before.current; change((x) => (x.boxes[i].label = v)); }}
              />
              <span class="review-score" aria-label={`Score of box ${i + 1}`}>{b.score != null ? b.score.toFixed(2) : 'accepted'}</span>
              {!readOnly && b.score != null && (
                <button type="button" class="button button-small" aria-label={`Accept box ${i + 1}`} onClick={() => change((x) => (x.boxes[i].score = null))}>
                  Accept
                </button>
              )}
              {!readOnly && (
                <button type="button" class="button button-small" aria-label={`Delete box ${i + 1}`} onClick={() => { change((x) => x.boxes.splice(i, 1)); setSel(null); }}>
                  Delete
                </button>
              )}
            </li>
          ))}
        </ul>
        <h3>Classes ({doc.classes.length})</h3>
        <ul class="review-shapes" aria-label="Classes">
          {doc.classes.map((c, i) => (
            <li key={i}>
              <input type="text" aria-label={`Class ${i + 1}`} value={c.label} disabled={readOnly} onFocus={() => (before.current = c.label)} onInput={(e) => { const v = (e.currentTarget as HTMLInputElement).value; change((x) => (x.classes[i].label = v)); }} onChange={(e) => { const v = (e.currentTarget as HTMLInputElement).value.trim() || before.current; change((x) => (x.classes[i].label = v)); }} />
              <span class="review-score">{c.score != null ? c.score.toFixed(2) : 'accepted'}</span>
              {!readOnly && c.score != null && (
                <button type="button" class="button button-small" aria-label={`Accept class ${i + 1}`} onClick={() => change((x) => (x.classes[i].score = null))}>
                  Accept
                </button>
              )}
              {!readOnly && (
                <button type="button" class="button button-small" aria-label={`Delete class ${i + 1}`} onClick={() => change((x) => x.classes.splice(i, 1))}>
                  Delete
                </button>
              )}
            </li>
          ))}
        </ul>
        {!readOnly && (
          <>
            <div class="field">
              <label for="rv-new-label">Label for new boxes and classes</label>
              <input id="rv-new-label" type="text" value={newLabel} onInput={(e) => setNewLabel((e.target as HTMLInputElement).value)} />
            </div>
            <div class="dialog-actions" style={{ justifyContent: 'flex-start', flexWrap: 'wrap' }}>
              <button type="button" class="button" disabled={!newLabel.trim()} onClick={() => change((x) => x.classes.push({ label: newLabel.trim() }))}>
                Add class
              </button>
              <button type="button" class="button" onClick={() => change((x) => { x.boxes.forEach((b) => (b.score = null)); x.classes.forEach((c) => (c.score = null)); })}>
                Accept all
              </button>
            </div>
          </>
        )}
        {err && <div class="form-error" role="alert">{err}</div>}
        <div class="dialog-actions" style={{ justifyContent: 'flex-start', flexWrap: 'wrap', marginTop: '14px' }}>
          {!readOnly && (
            <button type="button" class="button button-primary" disabled={busy} onClick={save}>
              {busy ? 'Saving…' : dirty || p.status === 'to_review' ? 'Save review' : 'Save again'}
            </button>
          )}
          {!readOnly && p.status === 'reviewed' && !dirty && (
            <button type="button" class="button" disabled={busy} onClick={submit}>
              Submit
            </button>
          )}
          <button type="button" class="button" onClick={nextToReview}>
            Next to review
          </button>
          <a class="button" href={back}>
            Back to the grid
          </a>
        </div>
        {p.shadow_output && (
          <>
            <h3>Shadow model</h3>
            <p class="muted">
              {(p.shadow_output.classes ?? []).slice(0, 3).map((c) => `${c.label} ${c.score != null ? c.score.toFixed(2) : ''}`).join(', ') || `${(p.shadow_output.boxes ?? []).length} boxes`}
            </p>
          </>
        )}
      </aside>
    </div>
  );
}
