/*
 * geometry.ts - shapes as geometry: the view transform, bounds, moving,
 * clamping to the image, and hit testing (which shape, handle or vertex is
 * under the pointer).
 *
 * Two spaces: image pixels (where shapes live) and screen (CSS) pixels of
 * the canvas. The view maps one to the other with a scale and an offset:
 * screen = image * scale + offset. Tolerances are in screen pixels, so a
 * vertex is as easy to grab zoomed out as zoomed in.
 */
import type { Shape } from './doc';

export interface View {
  scale: number;
  tx: number;
  ty: number;
}

export const toScreen = (v: View, x: number, y: number): [number, number] => [x * v.scale + v.tx, y * v.scale + v.ty];
export const toImage = (v: View, sx: number, sy: number): [number, number] => [(sx - v.tx) / v.scale, (sy - v.ty) / v.scale];

/** The view that fits a w x h image in a cw x ch canvas with a margin. */
export function fitView(w: number, h: number, cw: number, ch: number, margin = 16): View {
  const scale = Math.max(1e-4, Math.min((cw - 2 * margin) / w, (ch - 2 * margin) / h));
  return { scale, tx: (cw - w * scale) / 2, ty: (ch - h * scale) / 2 };
}

/** Zooms by `factor` keeping the image point under (sx, sy) in place. */
export function zoomAt(v: View, factor: number, sx: number, sy: number, min = 0.01, max = 40): View {
  const scale = Math.min(max, Math.max(min, v.scale * factor));
  const f = scale / v.scale;
  return { scale, tx: sx - (sx - v.tx) * f, ty: sy - (sy - v.ty) * f };
}

export type Box = [number, number, number, number]; // x, y, w, h

/** The enclosing box of a shape's geometry (null for classes and empty shapes). */
export function bounds(s: Shape): Box | null {
  if (s.kind === 'box' && s.box) return s.box;
  if (s.kind === 'mask' && s.rle) return maskBounds(s);
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  const add = (x: number, y: number) => {
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  };
  forEachPoint(s, (x, y) => add(x, y));
  return x0 === Infinity ? null : [x0, y0, x1 - x0, y1 - y0];
}

function maskBounds(s: Shape): Box | null {
  const [h, w] = s.rle!.size;
  return [0, 0, w, h];
}

/** Calls fn for every labelled vertex (keypoints with v = 0 are not there). */
export function forEachPoint(s: Shape, fn: (x: number, y: number) => void) {
  if (s.rings) for (const r of s.rings) for (let i = 0; i + 1 < r.length; i += 2) fn(r[i], r[i + 1]);
  if (s.points) for (let i = 0; i + 1 < s.points.length; i += 2) fn(s.points[i], s.points[i + 1]);
  if (s.point) fn(s.point[0], s.point[1]);
  if (s.keypoints) for (let i = 0; i + 2 < s.keypoints.length; i += 3) if (s.keypoints[i + 2] > 0) fn(s.keypoints[i], s.keypoints[i + 1]);
}

/** The shape moved by (dx, dy) (a new object). */
export function translate(s: Shape, dx: number, dy: number): Shape {
  const o: Shape = { ...s };
  if (s.box) o.box = [s.box[0] + dx, s.box[1] + dy, s.box[2], s.box[3]];
  if (s.rings) o.rings = s.rings.map((r) => r.map((v, i) => v + (i % 2 ? dy : dx)));
  if (s.points) o.points = s.points.map((v, i) => v + (i % 2 ? dy : dx));
  if (s.point) o.point = [s.point[0] + dx, s.point[1] + dy];
  if (s.keypoints) o.keypoints = s.keypoints.map((v, i) => (i % 3 === 0 ? v + dx : i % 3 === 1 ? v + dy : v));
  o.area = undefined; /* a stored area no longer matches once the geometry changes */
  return o;
}

/** The (dx, dy) that keeps a shape with bounds b inside a w x h image when moved by it. */
export function clampMove(b: Box | null, dx: number, dy: number, w: number, h: number): [number, number] {
  if (!b) return [dx, dy];
  const cx = Math.min(Math.max(dx, -b[0]), w - b[0] - b[2]);
  const cy = Math.min(Math.max(dy, -b[1]), h - b[1] - b[3]);
  return [cx, cy];
}

export const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/* --- hit testing -------------------------------------------------------------------------------- */

/** A grabbable part of the selected shape. */
export type Handle =
  | { kind: 'corner'; hx: -1 | 0 | 1; hy: -1 | 0 | 1 } // box: corners and edge middles
  | { kind: 'vertex'; ring: number; index: number } // polygon ring / polyline (ring 0) / keypoint (index = vertex number)
  | { kind: 'edge'; ring: number; index: number; x: number; y: number }; // between vertex index and the next

export const HANDLE_PX = 7;

/** Screen positions of a box's 8 handles. */
export function boxHandles(v: View, b: Box): { hx: -1 | 0 | 1; hy: -1 | 0 | 1; x: number; y: number }[] {
  const out: { hx: -1 | 0 | 1; hy: -1 | 0 | 1; x: number; y: number }[] = [];
  const [x0, y0] = toScreen(v, b[0], b[1]);
  const [x1, y1] = toScreen(v, b[0] + b[2], b[1] + b[3]);
  for (const hy of [-1, 0, 1] as const)
    for (const hx of [-1, 0, 1] as const) {
      if (!hx && !hy) continue;
      out.push({ hx, hy, x: hx < 0 ? x0 : hx > 0 ? x1 : (x0 + x1) / 2, y: hy < 0 ? y0 : hy > 0 ? y1 : (y0 + y1) / 2 });
    }
  return out;
}

/** The rings of vertices a shape can edit: polygon rings, the polyline, keypoints (x,y,v). */
export function vertexLists(s: Shape): { ring: number; pts: number[]; stride: 2 | 3; closed: boolean }[] {
  if (s.kind === 'polygon' && s.rings) return s.rings.map((pts, ring) => ({ ring, pts, stride: 2 as const, closed: true }));
  if (s.kind === 'polyline' && s.points) return [{ ring: 0, pts: s.points, stride: 2, closed: false }];
  if (s.kind === 'keypoints' && s.keypoints) return [{ ring: 0, pts: s.keypoints, stride: 3, closed: false }];
  if (s.kind === 'point' && s.point) return [{ ring: 0, pts: s.point, stride: 2, closed: false }];
  return [];
}

/** The handle of shape s (selected) under screen point (sx, sy), if any. */
export function hitHandle(v: View, s: Shape, sx: number, sy: number): Handle | null {
  if (s.kind === 'box' && s.box) {
    for (const h of boxHandles(v, s.box)) if (Math.abs(h.x - sx) <= HANDLE_PX && Math.abs(h.y - sy) <= HANDLE_PX) return { kind: 'corner', hx: h.hx, hy: h.hy };
    return null;
  }
  for (const l of vertexLists(s)) {
    for (let i = 0; i + 1 < l.pts.length; i += l.stride) {
      if (l.stride === 3 && l.pts[i + 2] === 0) continue;
      const [px, py] = toScreen(v, l.pts[i], l.pts[i + 1]);
      if (Math.hypot(px - sx, py - sy) <= HANDLE_PX + 1) return { kind: 'vertex', ring: l.ring, index: i / l.stride };
    }
  }
  /* an edge of a polygon or polyline: a double click there inserts a vertex */
  for (const l of vertexLists(s)) {
    if (l.stride !== 2 || s.kind === 'point') continue;
    const n = l.pts.length / 2;
    const segs = l.closed ? n : n - 1;
    for (let i = 0; i < segs; i++) {
      const j = (i + 1) % n;
      const [ax, ay] = toScreen(v, l.pts[2 * i], l.pts[2 * i + 1]);
      const [bx, by] = toScreen(v, l.pts[2 * j], l.pts[2 * j + 1]);
      const t = segT(sx, sy, ax, ay, bx, by);
      const qx = ax + (bx - ax) * t, qy = ay + (by - ay) * t;
      if (Math.hypot(qx - sx, qy - sy) <= 5) {
        const [ix, iy] = toImage(v, qx, qy);
        return { kind: 'edge', ring: l.ring, index: i, x: ix, y: iy };
      }
    }
  }
  return null;
}

function segT(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax, dy = by - ay;
  const l2 = dx * dx + dy * dy;
  if (!l2) return 0;
  return clamp(((px - ax) * dx + (py - ay) * dy) / l2, 0, 1);
}

function segDist(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const t = segT(px, py, ax, ay, bx, by);
  return Math.hypot(ax + (bx - ax) * t - px, ay + (by - ay) * t - py);
}

function inRings(rings: number[][], x: number, y: number): boolean {
  let inside = false;
  for (const r of rings) {
    const n = r.length / 2;
    for (let i = 0, j = n - 1; i < n; j = i++) {
      const xi = r[2 * i], yi = r[2 * i + 1], xj = r[2 * j], yj = r[2 * j + 1];
      if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
  }
  return inside;
}

/**
 * How well shape s is hit at image point (x, y): 0 for a miss; an outline
 * or vertex within tolerance beats an inside hit, and among inside hits the
 * smaller shape wins, so a small box inside a big one can be picked.
 */
function hitScore(s: Shape, x: number, y: number, tol: number): number {
  switch (s.kind) {
    case 'box': {
      if (!s.box) return 0;
      const [bx, by, bw, bh] = s.box;
      const inside = x >= bx - tol && x <= bx + bw + tol && y >= by - tol && y <= by + bh + tol;
      if (!inside) return 0;
      const edge = Math.min(Math.abs(x - bx), Math.abs(x - bx - bw), Math.abs(y - by), Math.abs(y - by - bh));
      return edge <= tol ? 3 : 1 / (1 + bw * bh);
    }
    case 'polygon': {
      if (!s.rings) return 0;
      for (const r of s.rings) {
        const n = r.length / 2;
        for (let i = 0; i < n; i++) {
          const j = (i + 1) % n;
          if (segDist(x, y, r[2 * i], r[2 * i + 1], r[2 * j], r[2 * j + 1]) <= tol) return 3;
        }
      }
      if (!inRings(s.rings, x, y)) return 0;
      const b = bounds(s);
      return 1 / (1 + (b ? b[2] * b[3] : 0));
    }
    case 'polyline': {
      const p = s.points ?? [];
      for (let i = 0; i + 3 < p.length; i += 2) if (segDist(x, y, p[i], p[i + 1], p[i + 2], p[i + 3]) <= tol) return 3;
      return 0;
    }
    case 'point':
      return s.point && Math.hypot(s.point[0] - x, s.point[1] - y) <= tol * 1.5 ? 4 : 0;
    case 'keypoints': {
      const k = s.keypoints ?? [];
      for (let i = 0; i + 2 < k.length; i += 3) if (k[i + 2] > 0 && Math.hypot(k[i] - x, k[i + 1] - y) <= tol * 1.5) return 4;
      const b = bounds(s);
      return b && x >= b[0] && x <= b[0] + b[2] && y >= b[1] && y <= b[1] + b[3] ? 0.5 / (1 + b[2] * b[3]) : 0;
    }
    case 'mask': {
      const b = bounds(s);
      return b && x >= b[0] && x <= b[0] + b[2] && y >= b[1] && y <= b[1] + b[3] ? 0.1 / (1 + b[2] * b[3]) : 0;
    }
    default:
      return 0;
  }
}

/** The shape under screen point (sx, sy): the best hit, the topmost among equals. */
export function hitShape(v: View, shapes: Shape[], sx: number, sy: number): Shape | null {
  const [x, y] = toImage(v, sx, sy);
  const tol = 5 / v.scale;
  let best: Shape | null = null;
  let bestScore = 0;
  for (let i = shapes.length - 1; i >= 0; i--) {
    const sc = hitScore(shapes[i], x, y, tol);
    if (sc > bestScore) {
      best = shapes[i];
      bestScore = sc;
    }
  }
  return best;
}

/** A box from two corners, clamped to the image. */
export function boxFrom(ax: number, ay: number, bx: number, by: number, w: number, h: number): Box {
  const x0 = clamp(Math.min(ax, bx), 0, w), x1 = clamp(Math.max(ax, bx), 0, w);
  const y0 = clamp(Math.min(ay, by), 0, h), y1 = clamp(Math.max(ay, by), 0, h);
  return [x0, y0, x1 - x0, y1 - y0];
}

/** The box after dragging handle (hx, hy) to image point (x, y); corners may cross over. */
export function resizeBox(b: Box, hx: number, hy: number, x: number, y: number, w: number, h: number): Box {
  let x0 = b[0], y0 = b[1], x1 = b[0] + b[2], y1 = b[1] + b[3];
  if (hx < 0) x0 = x;
  if (hx > 0) x1 = x;
  if (hy < 0) y0 = y;
  if (hy > 0) y1 = y;
  return boxFrom(x0, y0, x1, y1, w, h);
}

/** Shoelace area of the rings (even-odd: later rings of a COCO polygon are parts, so they add). */
export function polygonArea(rings: number[][]): number {
  let a = 0;
  for (const r of rings) {
    let s = 0;
    const n = r.length / 2;
    for (let i = 0, j = n - 1; i < n; j = i++) s += (r[2 * j] + r[2 * i]) * (r[2 * j + 1] - r[2 * i + 1]);
    a += Math.abs(s) / 2;
  }
  return a;
}
