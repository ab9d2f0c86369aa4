/*
 * stage.ts - the canvas of the annotation tool: drawing the image and the
 * shapes, zoom and pan, and every pointer gesture of the tools.
 *
 * It is a plain class, not a component: a pointer move must not re-render
 * the page. The page owns the state (the document, the selection, the tool,
 * the current label, the score threshold) and hands it over through
 * `host`, an object the stage reads when it draws or handles an event; the
 * stage changes things only through the host (select, exec a command) and
 * tells the page about its own state (the view, the shape being drawn).
 *
 * Drawing happens in requestAnimationFrame, at most once a frame, and only
 * when something changed (invalidate()). Shapes are kept in image pixels and
 * transformed to the screen as they are drawn, so lines keep their width at
 * any zoom. The image comes from imagesource.ts: the level of its pyramid
 * that fits the zoom, only the visible part.
 *
 * Gestures: the wheel (and a trackpad's pinch, which arrives as a wheel
 * with ctrlKey) zooms at the pointer; two touch pointers pinch and pan;
 * dragging with the middle button, with Space held, or on empty space with
 * the select tool pans. Tools: select (click, Shift-click to add, drag to
 * move, handles to resize, vertices to edit, Alt-click a vertex to delete
 * it, double-click an edge to add one, Shift-click a keypoint to toggle it
 * hidden), box (drag), polygon and polyline (click vertices; click the first
 * vertex, double-click, Enter or right-click to finish; Backspace removes
 * the last), point (click), keypoints (click each vertex of the label's
 * skeleton in order; Shift-click: hidden; X skips one; Enter finishes).
 */
import type { Label } from '../../lib/datasets';
import { addShapes, cloneShape, newUid, removeShapes, replaceShapes, type Command, type Doc, type Shape } from './doc';
import {
  bounds,
  boxFrom,
  boxHandles,
  clamp,
  clampMove,
  fitView,
  hitHandle,
  hitShape,
  resizeBox,
  toImage,
  toScreen,
  translate,
  zoomAt,
  type Handle,
  type View,
} from './geometry';
import type { LoadedImage } from './imagesource';

export type Tool = 'select' | 'box' | 'polygon' | 'polyline' | 'point' | 'keypoints';

export type Draft =
  | { kind: 'box'; ax: number; ay: number; bx: number; by: number }
  | { kind: 'polygon' | 'polyline'; pts: number[] }
  | { kind: 'keypoints'; label: Label; kp: number[]; next: number };

export interface StageHost {
  doc: Doc;
  image: LoadedImage | null;
  tool: Tool;
  /** The label new shapes get. */
  label: Label | null;
  labelOf: (name: string) => Label | undefined;
  selected: number[];
  /** Predictions (shapes with a score) under this are hidden. */
  threshold: number;
  /** H: every shape hidden, to see the image. */
  hidden: boolean;
  readonly: boolean;
  select: (uids: number[]) => void;
  exec: (c: Command) => void;
  draftChanged: (d: Draft | null) => void;
  viewChanged: (v: View) => void;
  message: (text: string) => void;
  /** The first time an image (thumbnail or original) is on the canvas; `original` when it is the original. */
  painted: (what: 'thumbnail' | 'original') => void;
}

type Drag =
  | { kind: 'pan'; sx: number; sy: number; tx: number; ty: number }
  | { kind: 'move'; x0: number; y0: number; before: Shape[]; moved: boolean }
  | { kind: 'corner'; before: Shape; hx: number; hy: number; moved: boolean }
  | { kind: 'vertex'; before: Shape; ring: number; index: number; moved: boolean }
  | { kind: 'box' }
  | { kind: 'pinch'; d0: number; mx: number; my: number; view: View };

const FALLBACK_COLOR = '#e040fb';
const BG = '#24272d';

export class Stage {
  view: View = { scale: 1, tx: 0, ty: 0 };
  private canvas: HTMLCanvasElement | null = null;
  private ctx: CanvasRenderingContext2D | null = null;
  private cw = 0;
  private ch = 0;
  private dpr = 1;
  private frame = 0;
  private fitted = false;
  private draft: Draft | null = null;
  private drag: Drag | null = null;
  private pointer: { x: number; y: number; inside: boolean } = { x: 0, y: 0, inside: false };
  private hover: number | null = null;
  private space = false;
  private pointers = new Map<number, { x: number; y: number }>();
  private ro: ResizeObserver | null = null;
  private unsubImage: (() => void) | null = null;
  private paintedThumb = false;
  private paintedOriginal = false;
  private maskCache = new WeakMap<Shape, HTMLCanvasElement | null>();
  private off: (() => void)[] = [];
  /** Milliseconds each of the last frames took to draw (newest last), for the measurements in docs/web.md. */
  readonly drawTimes: number[] = [];

  constructor(readonly host: StageHost) {}

  attach(canvas: HTMLCanvasElement) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { alpha: false });
    const on = <K extends keyof HTMLElementEventMap>(el: EventTarget, type: K | string, fn: (e: never) => void, opts?: AddEventListenerOptions) => {
      el.addEventListener(type, fn as EventListener, opts);
      this.off.push(() => el.removeEventListener(type, fn as EventListener, opts));
    };
    on(canvas, 'pointerdown', (e: PointerEvent) => this.onDown(e));
    on(canvas, 'pointermove', (e: PointerEvent) => this.onMove(e));
    on(canvas, 'pointerup', (e: PointerEvent) => this.onUp(e));
    on(canvas, 'pointercancel', (e: PointerEvent) => this.onUp(e));
    on(canvas, 'pointerleave', () => {
      this.pointer.inside = false;
      this.invalidate();
    });
    on(canvas, 'wheel', (e: WheelEvent) => this.onWheel(e), { passive: false });
    on(canvas, 'dblclick', (e: MouseEvent) => this.onDblClick(e));
    on(canvas, 'contextmenu', (e: MouseEvent) => {
      e.preventDefault();
      if (this.draft && (this.draft.kind === 'polygon' || this.draft.kind === 'polyline' || this.draft.kind === 'keypoints')) this.finishDraft();
    });
    on(window, 'keydown', (e: KeyboardEvent) => {
      if (e.key === ' ' && !isTyping(e) && !this.space) {
        this.space = true;
        this.updateCursor();
      }
    });
    on(window, 'keyup', (e: KeyboardEvent) => {
      if (e.key === ' ') {
        this.space = false;
        this.updateCursor();
      }
    });
    on(window, 'blur', () => {
      this.space = false;
    });
    this.ro = new ResizeObserver(() => this.resize());
    this.ro.observe(canvas.parentElement ?? canvas);
    this.resize();
  }

  detach() {
    for (const f of this.off) f();
    this.off = [];
    this.ro?.disconnect();
    this.unsubImage?.();
    if (this.frame) cancelAnimationFrame(this.frame);
    this.canvas = null;
    this.ctx = null;
  }

  /** A new image (another asset): fit it, and redraw as its pixels arrive. */
  setImage(img: LoadedImage | null) {
    this.unsubImage?.();
    this.unsubImage = img ? img.subscribe(() => this.invalidate()) : null;
    this.fitted = false;
    this.paintedThumb = this.paintedOriginal = false;
    this.draft = null;
    this.drag = null;
    this.hover = null;
    this.maskCache = new WeakMap();
    this.draftSig = '';
    this.host.draftChanged(null);
    this.fit();
  }

  private resize() {
    const c = this.canvas;
    if (!c) return;
    const box = (c.parentElement ?? c).getBoundingClientRect();
    const w = Math.max(1, Math.floor(box.width));
    const h = Math.max(1, Math.floor(box.height));
    const dpr = window.devicePixelRatio || 1;
    if (w === this.cw && h === this.ch && dpr === this.dpr) return;
    /* keep what is in the middle in the middle */
    if (this.fitted && this.cw) {
      this.view = { ...this.view, tx: this.view.tx + (w - this.cw) / 2, ty: this.view.ty + (h - this.ch) / 2 };
    }
    this.cw = w;
    this.ch = h;
    this.dpr = dpr;
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
    c.style.width = `${w}px`;
    c.style.height = `${h}px`;
    if (!this.fitted) this.fit();
    else this.invalidate();
  }

  /* --- view ------------------------------------------------------------------------------------------ */

  fit() {
    const img = this.host.image;
    if (!img || !this.cw) return;
    this.setView(fitView(img.w, img.h, this.cw, this.ch));
    this.fitted = true;
  }

  /** 1:1, centred on the middle of what is shown. */
  actualSize() {
    this.setView(zoomAt(this.view, 1 / this.view.scale, this.cw / 2, this.ch / 2));
  }

  zoomBy(f: number) {
    this.setView(zoomAt(this.view, f, this.cw / 2, this.ch / 2));
  }

  setView(v: View) {
    this.view = v;
    this.host.viewChanged(v);
    this.invalidate();
  }

  invalidate() {
    if (!this.frame && this.ctx) this.frame = requestAnimationFrame(() => this.draw());
  }

  /* --- drafts (shapes being drawn) ------------------------------------------------------------------- */

  getDraft() {
    return this.draft;
  }

  private draftSig = '';

  /* the page hears of a draft only when its hint changes (not on every move of a box's corner) */
  private setDraft(d: Draft | null) {
    this.draft = d;
    const sig = !d ? '' : d.kind === 'box' ? 'box' : d.kind === 'keypoints' ? `kp:${d.label.id}:${d.next}` : `${d.kind}:${d.pts.length}`;
    if (sig !== this.draftSig) {
      this.draftSig = sig;
      this.host.draftChanged(d);
    }
    this.invalidate();
  }

  cancelDraft(): boolean {
    if (!this.draft) return false;
    this.setDraft(null);
    return true;
  }

  /** Backspace while drawing: the last vertex goes. */
  undoDraftPoint(): boolean {
    const d = this.draft;
    if (!d) return false;
    if (d.kind === 'polygon' || d.kind === 'polyline') {
      const pts = d.pts.slice(0, -2);
      this.setDraft(pts.length ? { ...d, pts } : null);
      return true;
    }
    if (d.kind === 'keypoints') {
      if (d.next === 0) {
        this.setDraft(null);
        return true;
      }
      const kp = [...d.kp];
      const i = d.next - 1;
      kp[3 * i] = kp[3 * i + 1] = kp[3 * i + 2] = 0;
      this.setDraft({ ...d, kp, next: i });
      return true;
    }
    return false;
  }

  /** X while placing keypoints: this vertex is not labelled. */
  skipKeypoint(): boolean {
    const d = this.draft;
    if (!d || d.kind !== 'keypoints') return false;
    const next = d.next + 1;
    if (next >= (d.label.keypoints?.length ?? 0)) this.commitKeypoints({ ...d, next });
    else this.setDraft({ ...d, next });
    return true;
  }

  /** Enter: the polygon, polyline or keypoints being drawn are done. */
  finishDraft(): boolean {
    const d = this.draft;
    if (!d) return false;
    if (d.kind === 'polygon' || d.kind === 'polyline') {
      const need = d.kind === 'polygon' ? 6 : 4;
      if (d.pts.length < need) {
        this.host.message(d.kind === 'polygon' ? 'A polygon needs at least 3 vertices.' : 'A polyline needs at least 2 vertices.');
        return true;
      }
      const label = this.host.label;
      if (!label) return true;
      const s: Shape = d.kind === 'polygon' ? { uid: newUid(), kind: 'polygon', label: label.name, rings: [d.pts] } : { uid: newUid(), kind: 'polyline', label: label.name, points: d.pts };
      this.setDraft(null);
      this.add(s);
      return true;
    }
    if (d.kind === 'keypoints') {
      this.commitKeypoints(d);
      return true;
    }
    return false;
  }

  private commitKeypoints(d: Extract<Draft, { kind: 'keypoints' }>) {
    this.setDraft(null);
    const labelled = d.kp.some((v, i) => i % 3 === 2 && v > 0);
    if (!labelled) {
      this.host.message('No keypoint was placed.');
      return;
    }
    this.add({ uid: newUid(), kind: 'keypoints', label: d.label.name, keypoints: d.kp });
  }

  private add(s: Shape) {
    this.host.exec(addShapes([s]));
    this.host.select([s.uid]);
  }

  /** Arrow keys: the selected shapes move by (dx, dy) image pixels, staying inside the image. */
  nudge(dx: number, dy: number): boolean {
    const img = this.host.image;
    const sel = this.selectedShapes();
    if (!img || !sel.length || this.host.readonly) return false;
    const pairs = sel.map((before) => {
      const [cx, cy] = clampMove(bounds(before), dx, dy, img.w, img.h);
      return { before, after: translate(before, cx, cy) };
    });
    this.host.exec(replaceShapes(pairs, pairs.length === 1 ? `move ${pairs[0].before.kind}` : `move ${pairs.length} shapes`));
    return true;
  }

  private selectedShapes(): Shape[] {
    const set = new Set(this.host.selected);
    return this.host.doc.shapes.filter((s) => set.has(s.uid));
  }

  /** Shapes that are drawn and can be picked: not image classes, not predictions under the threshold. */
  visibleShapes(): Shape[] {
    if (this.host.hidden) return [];
    const t = this.host.threshold;
    return this.host.doc.shown().filter((s) => s.kind !== 'class' && !(s.score !== undefined && s.score !== null && s.score < t));
  }

  /* --- pointer ---------------------------------------------------------------------------------------- */

  private local(e: { clientX: number; clientY: number }): [number, number] {
    const r = this.canvas!.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }

  private imagePoint(sx: number, sy: number, clampIt = true): [number, number] {
    const img = this.host.image!;
    const [x, y] = toImage(this.view, sx, sy);
    return clampIt ? [clamp(x, 0, img.w), clamp(y, 0, img.h)] : [x, y];
  }

  private onDown(e: PointerEvent) {
    const img = this.host.image;
    if (!img || !this.canvas) return;
    const [sx, sy] = this.local(e);
    this.canvas.focus({ preventScroll: true });
    this.pointers.set(e.pointerId, { x: sx, y: sy });
    if (this.pointers.size === 2) {
      const [a, b] = [...this.pointers.values()];
      this.drag = { kind: 'pinch', d0: Math.hypot(a.x - b.x, a.y - b.y) || 1, mx: (a.x + b.x) / 2, my: (a.y + b.y) / 2, view: this.view };
      this.host.doc.clearPreview();
      return;
    }
    if (e.button === 2) return;
    this.canvas.setPointerCapture(e.pointerId);
    if (e.button === 1 || this.space) {
      e.preventDefault();
      this.startPan(sx, sy);
      return;
    }
    if (e.button !== 0) return;
    const tool = this.host.readonly ? 'select' : this.host.tool;
    const [x, y] = this.imagePoint(sx, sy);
    switch (tool) {
      case 'select':
        this.downSelect(e, sx, sy);
        return;
      case 'box':
        if (!this.needLabel()) return;
        this.setDraft({ kind: 'box', ax: x, ay: y, bx: x, by: y });
        this.drag = { kind: 'box' };
        return;
      case 'polygon':
      case 'polyline': {
        if (!this.needLabel()) return;
        const d = this.draft && this.draft.kind === tool ? this.draft : { kind: tool, pts: [] as number[] };
        if (tool === 'polygon' && d.pts.length >= 6) {
          const [fx, fy] = toScreen(this.view, d.pts[0], d.pts[1]);
          if (Math.hypot(fx - sx, fy - sy) <= 9) {
            this.finishDraft();
            return;
          }
        }
        /* a second click on the same spot (a double click) does not add a vertex */
        const n = d.pts.length;
        if (n >= 2) {
          const [lx, ly] = toScreen(this.view, d.pts[n - 2], d.pts[n - 1]);
          if (Math.hypot(lx - sx, ly - sy) < 3) return;
        }
        this.setDraft({ kind: tool, pts: [...d.pts, x, y] });
        return;
      }
      case 'point': {
        const label = this.needLabel();
        if (!label) return;
        this.add({ uid: newUid(), kind: 'point', label: label.name, point: [x, y] });
        return;
      }
      case 'keypoints': {
        const label = this.needLabel();
        if (!label) return;
        const n = label.keypoints?.length ?? 0;
        if (!n) {
          this.host.message(`Label “${label.name}” has no keypoints. Pick a keypoint label (its skeleton is set in the version's Labels dialog).`);
          return;
        }
        let d = this.draft && this.draft.kind === 'keypoints' ? this.draft : { kind: 'keypoints' as const, label, kp: new Array(3 * n).fill(0), next: 0 };
        const kp = [...d.kp];
        kp[3 * d.next] = x;
        kp[3 * d.next + 1] = y;
        kp[3 * d.next + 2] = e.shiftKey ? 1 : 2;
        d = { ...d, kp, next: d.next + 1 };
        if (d.next >= n) this.commitKeypoints(d);
        else this.setDraft(d);
        return;
      }
    }
  }

  private needLabel(): Label | null {
    const l = this.host.label;
    if (!l) this.host.message('Pick a label first (the list on the right, or keys 1–9).');
    return l;
  }

  private startPan(sx: number, sy: number) {
    this.drag = { kind: 'pan', sx, sy, tx: this.view.tx, ty: this.view.ty };
    this.updateCursor();
  }

  private downSelect(e: PointerEvent, sx: number, sy: number) {
    const doc = this.host.doc;
    const ro = this.host.readonly;
    const sel = this.selectedShapes();
    if (sel.length === 1 && !ro) {
      const s = sel[0];
      const h = hitHandle(this.view, s, sx, sy);
      if (h && h.kind === 'vertex') {
        if (e.altKey) {
          this.deleteVertex(s, h);
          return;
        }
        if (e.shiftKey && s.kind === 'keypoints') {
          const after = cloneShape(s);
          const i = 3 * h.index + 2;
          after.keypoints![i] = after.keypoints![i] === 1 ? 2 : 1;
          this.host.exec(replaceShapes([{ before: s, after }], after.keypoints![i] === 1 ? 'mark keypoint hidden' : 'mark keypoint visible'));
          return;
        }
        this.drag = { kind: 'vertex', before: s, ring: h.ring, index: h.index, moved: false };
        return;
      }
      if (h && h.kind === 'corner') {
        this.drag = { kind: 'corner', before: s, hx: h.hx, hy: h.hy, moved: false };
        return;
      }
    }
    const hit = hitShape(this.view, this.visibleShapes(), sx, sy);
    if (!hit) {
      if (!e.shiftKey && !e.ctrlKey && !e.metaKey) this.host.select([]);
      this.startPan(sx, sy);
      return;
    }
    let uids = this.host.selected;
    if (e.shiftKey || e.ctrlKey || e.metaKey) {
      uids = uids.includes(hit.uid) ? uids.filter((u) => u !== hit.uid) : [...uids, hit.uid];
      this.host.select(uids);
      if (!uids.includes(hit.uid)) return;
    } else if (!uids.includes(hit.uid)) {
      uids = [hit.uid];
      this.host.select(uids);
    }
    if (ro) return;
    const [x, y] = this.imagePoint(sx, sy, false);
    const set = new Set(uids);
    this.drag = { kind: 'move', x0: x, y0: y, before: doc.shapes.filter((s) => set.has(s.uid)), moved: false };
  }

  private deleteVertex(s: Shape, h: Extract<Handle, { kind: 'vertex' }>) {
    const after = cloneShape(s);
    if (s.kind === 'keypoints') {
      const i = 3 * h.index;
      after.keypoints![i] = after.keypoints![i + 1] = after.keypoints![i + 2] = 0;
    } else if (s.kind === 'polygon') {
      const r = after.rings![h.ring];
      if (r.length <= 6) {
        this.host.message('A polygon keeps at least 3 vertices; delete the shape instead (Delete).');
        return;
      }
      r.splice(2 * h.index, 2);
    } else if (s.kind === 'polyline') {
      if (after.points!.length <= 4) {
        this.host.message('A polyline keeps at least 2 vertices; delete the shape instead (Delete).');
        return;
      }
      after.points!.splice(2 * h.index, 2);
    } else return;
    after.area = undefined;
    this.host.exec(replaceShapes([{ before: s, after }], 'delete vertex'));
  }

  private onMove(e: PointerEvent) {
    const img = this.host.image;
    if (!img || !this.canvas) return;
    const [sx, sy] = this.local(e);
    this.pointer = { x: sx, y: sy, inside: true };
    if (this.pointers.has(e.pointerId)) this.pointers.set(e.pointerId, { x: sx, y: sy });
    const d = this.drag;
    if (!d) {
      this.updateHover(sx, sy);
      if (this.draft || this.host.tool !== 'select') this.invalidate();
      return;
    }
    const doc = this.host.doc;
    switch (d.kind) {
      case 'pinch': {
        if (this.pointers.size < 2) return;
        const [a, b] = [...this.pointers.values()];
        const dist = Math.hypot(a.x - b.x, a.y - b.y) || 1;
        const mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2;
        const v = zoomAt(d.view, dist / d.d0, d.mx, d.my);
        this.setView({ ...v, tx: v.tx + mx - d.mx, ty: v.ty + my - d.my });
        return;
      }
      case 'pan':
        this.setView({ ...this.view, tx: d.tx + sx - d.sx, ty: d.ty + sy - d.sy });
        return;
      case 'box': {
        const dr = this.draft;
        if (dr && dr.kind === 'box') {
          const [x, y] = this.imagePoint(sx, sy);
          this.setDraft({ ...dr, bx: x, by: y });
        }
        return;
      }
      case 'move': {
        const [x, y] = this.imagePoint(sx, sy, false);
        let dx = x - d.x0, dy = y - d.y0;
        /* the group moves as one and stays inside the image */
        for (const s of d.before) [dx, dy] = clampMove(bounds(s), dx, dy, img.w, img.h);
        d.moved = d.moved || Math.abs(dx * this.view.scale) + Math.abs(dy * this.view.scale) > 2;
        if (!d.moved) return;
        for (const s of d.before) doc.preview(translate(s, dx, dy));
        return;
      }
      case 'corner': {
        const [x, y] = this.imagePoint(sx, sy);
        d.moved = true;
        doc.preview({ ...d.before, box: resizeBox(d.before.box!, d.hx, d.hy, x, y, img.w, img.h), area: undefined });
        return;
      }
      case 'vertex': {
        const [x, y] = this.imagePoint(sx, sy);
        d.moved = true;
        const after = cloneShape(d.before);
        if (after.kind === 'keypoints') {
          after.keypoints![3 * d.index] = x;
          after.keypoints![3 * d.index + 1] = y;
        } else if (after.kind === 'polygon') {
          after.rings![d.ring][2 * d.index] = x;
          after.rings![d.ring][2 * d.index + 1] = y;
        } else if (after.kind === 'polyline') {
          after.points![2 * d.index] = x;
          after.points![2 * d.index + 1] = y;
        } else if (after.kind === 'point') after.point = [x, y];
        after.area = undefined;
        doc.preview(after);
        return;
      }
    }
  }

  private onUp(e: PointerEvent) {
    this.pointers.delete(e.pointerId);
    const d = this.drag;
    if (!d) return;
    if (d.kind === 'pinch') {
      if (this.pointers.size < 2) this.drag = null;
      return;
    }
    this.drag = null;
    const doc = this.host.doc;
    switch (d.kind) {
      case 'box': {
        const dr = this.draft;
        const img = this.host.image!;
        const label = this.host.label;
        this.setDraft(null);
        if (!dr || dr.kind !== 'box' || !label) break;
        const b = boxFrom(dr.ax, dr.ay, dr.bx, dr.by, img.w, img.h);
        /* a click, or a sliver, is not a box */
        if (b[2] * this.view.scale < 3 || b[3] * this.view.scale < 3 || b[2] < 1 || b[3] < 1) break;
        this.add({ uid: newUid(), kind: 'box', label: label.name, box: b });
        break;
      }
      case 'move': {
        if (!d.moved) break;
        const pairs = d.before.map((before) => ({ before, after: doc.get(before.uid)! }));
        this.host.exec(replaceShapes(pairs, pairs.length === 1 ? `move ${pairs[0].before.kind}` : `move ${pairs.length} shapes`));
        break;
      }
      case 'corner':
      case 'vertex': {
        if (!d.moved) break;
        const after = doc.get(d.before.uid)!;
        const b = bounds(after);
        if (after.kind === 'box' && b && (b[2] < 1 || b[3] < 1)) {
          doc.clearPreview();
          this.host.message('A box needs some width and height; the resize was undone.');
          break;
        }
        this.host.exec(replaceShapes([{ before: d.before, after }], d.kind === 'corner' ? 'resize box' : `edit ${after.kind}`));
        break;
      }
    }
    this.updateCursor();
    this.invalidate();
  }

  private onDblClick(e: MouseEvent) {
    const [sx, sy] = this.local(e);
    const d = this.draft;
    if (d && (d.kind === 'polygon' || d.kind === 'polyline')) {
      this.finishDraft();
      return;
    }
    if (this.host.tool !== 'select' || this.host.readonly) return;
    const sel = this.selectedShapes();
    if (sel.length !== 1) return;
    const h = hitHandle(this.view, sel[0], sx, sy);
    if (!h || h.kind !== 'edge') return;
    const after = cloneShape(sel[0]);
    const pts = after.kind === 'polygon' ? after.rings![h.ring] : after.points!;
    pts.splice(2 * (h.index + 1), 0, h.x, h.y);
    after.area = undefined;
    this.host.exec(replaceShapes([{ before: sel[0], after }], 'add vertex'));
  }

  private onWheel(e: WheelEvent) {
    if (!this.host.image) return;
    e.preventDefault();
    const [sx, sy] = this.local(e);
    const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;
    const k = e.ctrlKey ? 0.01 : 0.0015; // a pinch sends small deltas with ctrlKey
    this.setView(zoomAt(this.view, Math.exp(-e.deltaY * unit * k), sx, sy));
  }

  private updateHover(sx: number, sy: number) {
    const h = this.host.tool === 'select' ? (hitShape(this.view, this.visibleShapes(), sx, sy)?.uid ?? null) : null;
    if (h !== this.hover) {
      this.hover = h;
      this.invalidate();
    }
    this.updateCursor(sx, sy);
  }

  private updateCursor(sx = this.pointer.x, sy = this.pointer.y) {
    const c = this.canvas;
    if (!c) return;
    let cur = 'default';
    const tool = this.host.readonly ? 'select' : this.host.tool;
    if (this.drag?.kind === 'pan') cur = 'grabbing';
    else if (this.space) cur = 'grab';
    else if (tool !== 'select') cur = 'crosshair';
    else {
      const sel = this.selectedShapes();
      const h = sel.length === 1 && !this.host.readonly ? hitHandle(this.view, sel[0], sx, sy) : null;
      if (h?.kind === 'corner') cur = h.hx * h.hy > 0 ? 'nwse-resize' : h.hx * h.hy < 0 ? 'nesw-resize' : h.hx ? 'ew-resize' : 'ns-resize';
      else if (h?.kind === 'vertex') cur = 'pointer';
      else if (h?.kind === 'edge') cur = 'copy';
      else if (this.hover !== null) cur = this.host.readonly ? 'pointer' : 'move';
      else cur = 'grab';
    }
    if (c.style.cursor !== cur) c.style.cursor = cur;
  }

  /* --- drawing -------------------------------------------------------------------------------------- */

  private color(label: string): string {
    return this.host.labelOf(label)?.color ?? FALLBACK_COLOR;
  }

  private draw() {
    this.frame = 0;
    const ctx = this.ctx;
    const img = this.host.image;
    if (!ctx) return;
    const t0 = performance.now();
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = BG;
    ctx.fillRect(0, 0, this.cw, this.ch);
    if (!img) return;
    const v = this.view;
    const drawn = this.drawImage(ctx, img, v);
    const sel = new Set(this.host.selected);
    for (const s of this.visibleShapes()) this.drawShape(ctx, s, sel.has(s.uid), s.uid === this.hover);
    for (const s of this.visibleShapes()) if (sel.has(s.uid)) this.drawHandles(ctx, s);
    this.drawDraft(ctx);
    this.drawCrosshair(ctx, img);
    const dt = performance.now() - t0;
    this.drawTimes.push(dt);
    if (this.drawTimes.length > 240) this.drawTimes.shift();
    if (drawn === 'original' && !this.paintedOriginal) {
      this.paintedOriginal = this.paintedThumb = true;
      this.host.painted('original');
    } else if (drawn === 'thumbnail' && !this.paintedThumb) {
      this.paintedThumb = true;
      this.host.painted('thumbnail');
    }
  }

  private drawImage(ctx: CanvasRenderingContext2D, img: LoadedImage, v: View): 'thumbnail' | 'original' | null {
    const level = img.pick(v.scale);
    if (!level) return null;
    /* the visible part of the image, in image pixels */
    const x0 = clamp(-v.tx / v.scale, 0, img.w), y0 = clamp(-v.ty / v.scale, 0, img.h);
    const x1 = clamp((this.cw - v.tx) / v.scale, 0, img.w), y1 = clamp((this.ch - v.ty) / v.scale, 0, img.h);
    if (x1 <= x0 || y1 <= y0) return level === img.thumb ? 'thumbnail' : 'original';
    const fx = level.w / img.w, fy = level.h / img.h;
    /* zoomed in, pixels stay crisp squares; at 1:1 there is nothing to interpolate (and it is cheaper) */
    ctx.imageSmoothingEnabled = v.scale < 2 && Math.abs(v.scale * fx - 1) > 0.01;
    ctx.imageSmoothingQuality = 'low';
    const [dx, dy] = toScreen(v, x0, y0);
    ctx.drawImage(level.src, x0 * fx, y0 * fy, (x1 - x0) * fx, (y1 - y0) * fy, dx, dy, (x1 - x0) * v.scale, (y1 - y0) * v.scale);
    return level === img.thumb ? 'thumbnail' : 'original';
  }

  private path(ctx: CanvasRenderingContext2D, pts: number[], closed: boolean, stride = 2) {
    const v = this.view;
    for (let i = 0; i + 1 < pts.length; i += stride) {
      const x = pts[i] * v.scale + v.tx, y = pts[i + 1] * v.scale + v.ty;
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    }
    if (closed) ctx.closePath();
  }

  private drawShape(ctx: CanvasRenderingContext2D, s: Shape, selected: boolean, hovered: boolean) {
    const color = this.color(s.label);
    const pred = s.score !== undefined && s.score !== null;
    const v = this.view;
    ctx.save();
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = selected ? 2.5 : hovered ? 2.2 : 1.6;
    ctx.setLineDash(pred ? [6, 4] : []);
    ctx.lineJoin = 'round';
    const fillAlpha = selected ? 0.28 : hovered ? 0.2 : pred ? 0.06 : 0.12;
    switch (s.kind) {
      case 'box': {
        const [x, y] = toScreen(v, s.box![0], s.box![1]);
        const w = s.box![2] * v.scale, h = s.box![3] * v.scale;
        ctx.globalAlpha = fillAlpha;
        ctx.fillRect(x, y, w, h);
        ctx.globalAlpha = 1;
        ctx.strokeRect(x, y, w, h);
        break;
      }
      case 'polygon': {
        ctx.beginPath();
        for (const r of s.rings ?? []) this.path(ctx, r, true);
        ctx.globalAlpha = fillAlpha;
        ctx.fill('evenodd');
        ctx.globalAlpha = 1;
        ctx.stroke();
        break;
      }
      case 'polyline':
        ctx.beginPath();
        this.path(ctx, s.points ?? [], false);
        ctx.stroke();
        break;
      case 'point': {
        const [x, y] = toScreen(v, s.point![0], s.point![1]);
        ctx.beginPath();
        ctx.arc(x, y, selected ? 6 : 5, 0, Math.PI * 2);
        ctx.globalAlpha = 0.85;
        ctx.fill();
        ctx.globalAlpha = 1;
        ctx.lineWidth = 1.5;
        ctx.strokeStyle = '#fff';
        ctx.stroke();
        break;
      }
      case 'keypoints':
        this.drawKeypoints(ctx, s.keypoints ?? [], this.host.labelOf(s.label), color, selected);
        break;
      case 'mask':
        this.drawMask(ctx, s, color, fillAlpha);
        break;
    }
    if (pred || selected || hovered) this.drawTag(ctx, s, color, pred);
    ctx.restore();
  }

  private drawKeypoints(ctx: CanvasRenderingContext2D, kp: number[], label: Label | undefined, color: string, selected: boolean) {
    const v = this.view;
    ctx.setLineDash([]);
    ctx.lineWidth = selected ? 2.5 : 1.8;
    ctx.beginPath();
    for (const [a, b] of label?.skeleton ?? []) {
      const i = (a - 1) * 3, j = (b - 1) * 3;
      if (!(kp[i + 2] > 0) || !(kp[j + 2] > 0)) continue;
      ctx.moveTo(kp[i] * v.scale + v.tx, kp[i + 1] * v.scale + v.ty);
      ctx.lineTo(kp[j] * v.scale + v.tx, kp[j + 1] * v.scale + v.ty);
    }
    ctx.stroke();
    for (let i = 0; i + 2 < kp.length; i += 3) {
      if (!(kp[i + 2] > 0)) continue;
      const [x, y] = toScreen(v, kp[i], kp[i + 1]);
      ctx.beginPath();
      ctx.arc(x, y, 4, 0, Math.PI * 2);
      if (kp[i + 2] === 2) {
        ctx.fillStyle = color;
        ctx.fill();
        ctx.strokeStyle = '#fff';
        ctx.lineWidth = 1.2;
        ctx.stroke();
      } else {
        /* hidden (occluded): an open circle */
        ctx.strokeStyle = color;
        ctx.lineWidth = 2;
        ctx.stroke();
      }
    }
  }

  private drawMask(ctx: CanvasRenderingContext2D, s: Shape, color: string, alpha: number) {
    let c = this.maskCache.get(s);
    if (c === undefined) {
      c = renderMask(s, color);
      this.maskCache.set(s, c);
    }
    const b = bounds(s)!;
    const [x, y] = toScreen(this.view, b[0], b[1]);
    if (c) {
      ctx.globalAlpha = Math.min(0.6, alpha * 3);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(c, x, y, b[2] * this.view.scale, b[3] * this.view.scale);
      ctx.globalAlpha = 1;
    } else {
      ctx.setLineDash([3, 3]);
      ctx.strokeRect(x, y, b[2] * this.view.scale, b[3] * this.view.scale);
    }
  }

  /** The label (and score) above a shape. */
  private drawTag(ctx: CanvasRenderingContext2D, s: Shape, color: string, pred: boolean) {
    const b = bounds(s);
    if (!b) return;
    const [x, y] = toScreen(this.view, b[0], b[1]);
    const text = pred ? `${s.label} ${s.score!.toFixed(2)}` : s.label;
    ctx.setLineDash([]);
    ctx.font = '12px system-ui, sans-serif';
    const w = ctx.measureText(text).width + 8;
    const ty = y - 18 < 0 ? y + 1 : y - 18;
    ctx.globalAlpha = 0.9;
    ctx.fillStyle = color;
    ctx.fillRect(x, ty, w, 17);
    ctx.globalAlpha = 1;
    ctx.fillStyle = textOn(color);
    ctx.fillText(text, x + 4, ty + 13);
  }

  private drawHandles(ctx: CanvasRenderingContext2D, s: Shape) {
    if (this.host.readonly) return;
    const v = this.view;
    const color = this.color(s.label);
    ctx.save();
    ctx.setLineDash([]);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = color;
    ctx.fillStyle = '#fff';
    if (s.kind === 'box' && s.box) {
      for (const h of boxHandles(v, s.box)) {
        ctx.fillRect(h.x - 4, h.y - 4, 8, 8);
        ctx.strokeRect(h.x - 4, h.y - 4, 8, 8);
      }
    } else if (s.kind === 'polygon' || s.kind === 'polyline') {
      const lists = s.kind === 'polygon' ? (s.rings ?? []) : [s.points ?? []];
      for (const r of lists)
        for (let i = 0; i + 1 < r.length; i += 2) {
          const [x, y] = toScreen(v, r[i], r[i + 1]);
          ctx.fillRect(x - 3.5, y - 3.5, 7, 7);
          ctx.strokeRect(x - 3.5, y - 3.5, 7, 7);
        }
    } else if (s.kind === 'keypoints' && s.keypoints) {
      const names = this.host.labelOf(s.label)?.keypoints ?? [];
      ctx.font = '11px system-ui, sans-serif';
      for (let i = 0; i + 2 < s.keypoints.length; i += 3) {
        if (!(s.keypoints[i + 2] > 0)) continue;
        const [x, y] = toScreen(v, s.keypoints[i], s.keypoints[i + 1]);
        ctx.beginPath();
        ctx.arc(x, y, 6, 0, Math.PI * 2);
        ctx.stroke();
        const name = names[i / 3];
        if (name) {
          ctx.fillStyle = 'rgba(0,0,0,0.6)';
          ctx.fillRect(x + 7, y - 7, ctx.measureText(name).width + 6, 14);
          ctx.fillStyle = '#fff';
          ctx.fillText(name, x + 10, y + 4);
        }
      }
    }
    ctx.restore();
  }

  private drawDraft(ctx: CanvasRenderingContext2D) {
    const d = this.draft;
    if (!d) return;
    const v = this.view;
    const color = d.kind === 'keypoints' ? d.label.color : (this.host.label?.color ?? FALLBACK_COLOR);
    ctx.save();
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = 2;
    if (d.kind === 'box') {
      const b = boxFrom(d.ax, d.ay, d.bx, d.by, Infinity, Infinity);
      const [x, y] = toScreen(v, b[0], b[1]);
      ctx.globalAlpha = 0.15;
      ctx.fillRect(x, y, b[2] * v.scale, b[3] * v.scale);
      ctx.globalAlpha = 1;
      ctx.setLineDash([5, 3]);
      ctx.strokeRect(x, y, b[2] * v.scale, b[3] * v.scale);
    } else if (d.kind === 'polygon' || d.kind === 'polyline') {
      ctx.beginPath();
      this.path(ctx, d.pts, false);
      if (this.pointer.inside) ctx.lineTo(this.pointer.x, this.pointer.y);
      ctx.stroke();
      for (let i = 0; i + 1 < d.pts.length; i += 2) {
        const [x, y] = toScreen(v, d.pts[i], d.pts[i + 1]);
        const first = i === 0 && d.kind === 'polygon' && d.pts.length >= 6;
        const near = first && Math.hypot(x - this.pointer.x, y - this.pointer.y) <= 9;
        ctx.beginPath();
        ctx.arc(x, y, near ? 7 : first ? 5 : 3.5, 0, Math.PI * 2);
        ctx.fillStyle = near ? '#fff' : color;
        ctx.fill();
        ctx.stroke();
      }
    } else if (d.kind === 'keypoints') {
      this.drawKeypoints(ctx, d.kp, d.label, color, true);
      const name = d.label.keypoints?.[d.next];
      if (name && this.pointer.inside) {
        ctx.font = '12px system-ui, sans-serif';
        const text = `${d.next + 1}. ${name}`;
        ctx.fillStyle = 'rgba(0,0,0,0.7)';
        ctx.fillRect(this.pointer.x + 12, this.pointer.y + 10, ctx.measureText(text).width + 8, 17);
        ctx.fillStyle = '#fff';
        ctx.fillText(text, this.pointer.x + 16, this.pointer.y + 23);
      }
    }
    ctx.restore();
  }

  private drawCrosshair(ctx: CanvasRenderingContext2D, img: LoadedImage) {
    const tool = this.host.tool;
    if (this.host.readonly || !this.pointer.inside || (tool !== 'box' && tool !== 'keypoints' && tool !== 'point') || this.drag?.kind === 'pan') return;
    const [x, y] = toImage(this.view, this.pointer.x, this.pointer.y);
    if (x < 0 || y < 0 || x > img.w || y > img.h) return;
    ctx.save();
    ctx.strokeStyle = 'rgba(255,255,255,0.55)';
    ctx.lineWidth = 1;
    ctx.setLineDash([4, 4]);
    ctx.beginPath();
    ctx.moveTo(0, this.pointer.y + 0.5);
    ctx.lineTo(this.cw, this.pointer.y + 0.5);
    ctx.moveTo(this.pointer.x + 0.5, 0);
    ctx.lineTo(this.pointer.x + 0.5, this.ch);
    ctx.stroke();
    ctx.restore();
  }
}

/** Black or white, whichever reads better on `hex`. */
export function textOn(hex: string): string {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) return '#fff';
  const [r, g, b] = [m[1], m[2], m[3]].map((x) => parseInt(x, 16));
  return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? '#000' : '#fff';
}

export function isTyping(e: Event): boolean {
  const t = e.target as HTMLElement | null;
  return !!t?.closest?.('input, textarea, select, [contenteditable]');
}

/* --- masks ------------------------------------------------------------------------------------------ */

/** COCO's compressed RLE string to run lengths (pycocotools' rleFrString). */
export function rleCounts(counts: number[] | string): number[] {
  if (Array.isArray(counts)) return counts;
  const out: number[] = [];
  let p = 0;
  while (p < counts.length) {
    let x = 0, k = 0, more = 1;
    while (more && p < counts.length) {
      const c = counts.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = c & 0x20;
      p++;
      k++;
      if (!more && c & 0x10) x |= -1 << (5 * k);
    }
    if (out.length > 2) x += out[out.length - 2];
    out.push(x);
  }
  return out;
}

/** A mask as a canvas of its size (coloured where set); null when too big to be worth it. */
function renderMask(s: Shape, color: string): HTMLCanvasElement | null {
  const [h, w] = s.rle!.size;
  if (w * h > 16_000_000 || !w || !h) return null;
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
  const [r, g, b] = m ? [m[1], m[2], m[3]].map((x) => parseInt(x, 16)) : [224, 64, 251];
  const c = document.createElement('canvas');
  c.width = w;
  c.height = h;
  const cx = c.getContext('2d')!;
  const data = cx.createImageData(w, h);
  const px = data.data;
  let pos = 0;
  let on = false;
  for (const n of rleCounts(s.rle!.counts)) {
    if (on)
      for (let k = pos; k < pos + n && k < w * h; k++) {
        /* column-major: k = x * h + y */
        const x = Math.floor(k / h), y = k - x * h;
        const o = (y * w + x) * 4;
        px[o] = r;
        px[o + 1] = g;
        px[o + 2] = b;
        px[o + 3] = 255;
      }
    pos += n;
    on = !on;
  }
  cx.putImageData(data, 0, 0);
  return c;
}

/** Copies of shapes with fresh uids, moved by (dx, dy) and kept inside a w x h image. */
export function duplicate(shapes: Shape[], dx: number, dy: number, w: number, h: number): Shape[] {
  return shapes.map((s) => {
    const [cx, cy] = clampMove(bounds(s), dx, dy, w, h);
    const t = translate(cloneShape(s), cx, cy);
    return { ...t, uid: newUid() };
  });
}

export { removeShapes };
