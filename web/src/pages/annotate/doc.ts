/*
 * doc.ts - the annotation being edited: its shapes, and every change to
 * them as a command on an undo stack.
 *
 * A shape here is the API's shape (lib/datasets.ts) with a local `uid` (ids
 * change with every saved revision; the uid does not) and its polygon
 * always as `rings`. Geometry is in image pixels.
 *
 * Every change is a Command with apply() and revert() that the document
 * runs (exec) and keeps (undo/redo). There are three: add shapes (at
 * positions), remove shapes, and replace shapes (each with its before and
 * after), which covers moving, resizing, editing vertices and changing a
 * label. A drag does not fill the stack with hundreds of steps: while it
 * runs, the shape being dragged is only previewed (preview()), and letting
 * go commits one replace command.
 *
 * `seq` counts changes (exec, undo, redo); autosave compares it with the
 * seq it last saved. Listeners are told of every change and preview.
 */
import type { ApiShape, ShapeKind } from '../../lib/datasets';

export interface Shape {
  uid: number;
  kind: ShapeKind;
  label: string;
  box?: [number, number, number, number];
  rings?: number[][];
  points?: number[];
  point?: [number, number];
  keypoints?: number[];
  rle?: { size: [number, number]; counts: number[] | string };
  score?: number | null;
  text?: string | null;
  attributes?: Record<string, unknown> | null;
  iscrowd?: boolean | number;
  area?: number | null;
}

let uidSeq = 0;
export const newUid = () => ++uidSeq;

/** The API's shape as a document shape (a fresh uid; polygons as rings). */
export function fromApi(s: ApiShape): Shape {
  const out: Shape = { uid: newUid(), kind: s.kind, label: s.label };
  if (s.box) out.box = [...s.box];
  if (s.kind === 'polygon') out.rings = s.rings ? s.rings.map((r) => [...r]) : s.points ? [[...s.points]] : [];
  else if (s.points) out.points = [...s.points];
  if (s.point) out.point = [...s.point];
  if (s.keypoints) out.keypoints = [...s.keypoints];
  if (s.rle) out.rle = s.rle;
  if (s.score !== undefined && s.score !== null) out.score = s.score;
  if (s.text !== undefined && s.text !== null) out.text = s.text;
  if (s.attributes) out.attributes = s.attributes;
  if (s.iscrowd) out.iscrowd = s.iscrowd;
  if (s.area !== undefined && s.area !== null) out.area = s.area;
  return out;
}

/** The shape as the API takes it (no ids, no derived bbox; a label by name). */
export function toApi(s: Shape): ApiShape {
  const out: ApiShape = { kind: s.kind, label: s.label };
  if (s.kind === 'box' && s.box) out.box = s.box.map(round) as [number, number, number, number];
  if (s.kind === 'polygon' && s.rings) {
    if (s.rings.length === 1) out.points = s.rings[0].map(round);
    else out.rings = s.rings.map((r) => r.map(round));
  }
  if (s.kind === 'polyline' && s.points) out.points = s.points.map(round);
  if (s.kind === 'point' && s.point) out.point = s.point.map(round) as [number, number];
  if (s.kind === 'keypoints' && s.keypoints) out.keypoints = s.keypoints.map((v, i) => (i % 3 === 2 ? v : round(v)));
  if (s.kind === 'mask' && s.rle) out.rle = s.rle;
  if (s.score !== undefined && s.score !== null) out.score = s.score;
  if (s.text !== undefined && s.text !== null) out.text = s.text;
  if (s.attributes) out.attributes = s.attributes;
  if (s.iscrowd) out.iscrowd = s.iscrowd;
  if (s.area !== undefined && s.area !== null) out.area = s.area;
  return out;
}

/** Coordinates are kept to 1/100 px: finer than anyone clicks, and the saved JSON stays short. */
function round(v: number): number {
  return Math.round(v * 100) / 100;
}

export function cloneShape(s: Shape): Shape {
  return {
    ...s,
    box: s.box ? [...s.box] : undefined,
    rings: s.rings ? s.rings.map((r) => [...r]) : undefined,
    points: s.points ? [...s.points] : undefined,
    point: s.point ? [...s.point] : undefined,
    keypoints: s.keypoints ? [...s.keypoints] : undefined,
  };
}

export interface Command {
  /** What it did, for the undo button's title ("Undo move box"). */
  name: string;
  apply(d: Doc): void;
  revert(d: Doc): void;
}

export class Doc {
  shapes: Shape[] = [];
  /** Changes so far (exec, undo, redo). */
  seq = 0;
  private undoStack: Command[] = [];
  private redoStack: Command[] = [];
  private previews = new Map<number, Shape>();
  private subs = new Set<() => void>();
  static readonly MAX_UNDO = 500;

  constructor(shapes: Shape[] = []) {
    this.shapes = shapes;
  }

  subscribe(fn: () => void): () => void {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }

  private changed() {
    for (const fn of [...this.subs]) fn();
  }

  /** Replaces everything (a reload): the undo history goes with the old shapes. */
  reset(shapes: Shape[]) {
    this.shapes = shapes;
    this.undoStack = [];
    this.redoStack = [];
    this.previews.clear();
    this.changed();
  }

  get(uid: number): Shape | undefined {
    return this.previews.get(uid) ?? this.shapes.find((s) => s.uid === uid);
  }

  /** The shapes as shown: with previews of a drag in progress. */
  shown(): Shape[] {
    if (!this.previews.size) return this.shapes;
    return this.shapes.map((s) => this.previews.get(s.uid) ?? s);
  }

  preview(s: Shape) {
    this.previews.set(s.uid, s);
    this.changed();
  }

  clearPreview() {
    if (!this.previews.size) return;
    this.previews.clear();
    this.changed();
  }

  exec(c: Command) {
    this.previews.clear();
    c.apply(this);
    this.undoStack.push(c);
    if (this.undoStack.length > Doc.MAX_UNDO) this.undoStack.shift();
    this.redoStack = [];
    this.seq++;
    this.changed();
  }

  canUndo() {
    return this.undoStack.length > 0;
  }
  canRedo() {
    return this.redoStack.length > 0;
  }
  undoName() {
    return this.undoStack[this.undoStack.length - 1]?.name ?? null;
  }
  redoName() {
    return this.redoStack[this.redoStack.length - 1]?.name ?? null;
  }

  undo(): Command | null {
    const c = this.undoStack.pop();
    if (!c) return null;
    this.previews.clear();
    c.revert(this);
    this.redoStack.push(c);
    this.seq++;
    this.changed();
    return c;
  }

  redo(): Command | null {
    const c = this.redoStack.pop();
    if (!c) return null;
    this.previews.clear();
    c.apply(this);
    this.undoStack.push(c);
    this.seq++;
    this.changed();
    return c;
  }
}

/* --- the commands ------------------------------------------------------------------------------ */

/** Adds shapes at the end (drawn on top). */
export function addShapes(shapes: Shape[], name = shapes.length === 1 ? `add ${shapes[0].kind}` : `add ${shapes.length} shapes`): Command {
  return {
    name,
    apply: (d) => {
      d.shapes = [...d.shapes, ...shapes];
    },
    revert: (d) => {
      const gone = new Set(shapes.map((s) => s.uid));
      d.shapes = d.shapes.filter((s) => !gone.has(s.uid));
    },
  };
}

/** Removes shapes; undo puts each back where it was. */
export function removeShapes(d0: Doc, uids: number[]): Command {
  const set = new Set(uids);
  const removed = d0.shapes.map((s, i) => ({ s, i })).filter((x) => set.has(x.s.uid));
  const name = removed.length === 1 ? `delete ${removed[0].s.kind}` : `delete ${removed.length} shapes`;
  return {
    name,
    apply: (d) => {
      d.shapes = d.shapes.filter((s) => !set.has(s.uid));
    },
    revert: (d) => {
      const xs = [...d.shapes];
      for (const r of removed) xs.splice(Math.min(r.i, xs.length), 0, r.s);
      d.shapes = xs;
    },
  };
}

/** Replaces shapes by uid (before -> after): moves, resizes, vertex edits, label changes. */
export function replaceShapes(pairs: { before: Shape; after: Shape }[], name: string): Command {
  const swap = (d: Doc, from: 'before' | 'after', to: 'before' | 'after') => {
    const by = new Map(pairs.map((p) => [p[from].uid, p[to]]));
    d.shapes = d.shapes.map((s) => by.get(s.uid) ?? s);
  };
  return {
    name,
    apply: (d) => swap(d, 'before', 'after'),
    revert: (d) => swap(d, 'after', 'before'),
  };
}
