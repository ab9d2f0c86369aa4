/*
 * LineChart.tsx - a canvas line chart for metric series (steps on x).
 *
 * Many series, zoom (drag across a range; Ctrl+wheel, or the wheel once the
 * chart has focus; + and - keys), pan (Shift+drag or middle-button drag;
 * Shift+arrows), reset (double click, the button, 0), EMA smoothing, a log
 * scale, a tooltip with every series' value at the step under the pointer
 * (arrow keys move it from the keyboard, and a live region reads it), and a
 * legend whose entries hide and show series.
 *
 * The chart draws what it is given and fetches nothing. The x range it shows
 * (`view`, null for everything) is the parent's state: the parent asks the
 * API for a downsampled view sized to the plot width (`onWidth`) and asks
 * again when the view changes, so a 1,000,000-point series never reaches
 * the browser whole (pages/projects/MetricChart.tsx does this). While a new
 * view loads, the old points are redrawn in the new range at once.
 *
 * Why our own canvas code and not a library: what is needed is a few hundred
 * lines (one chart type, steps on x), a canvas draws 20 series of 2,000
 * points in about a millisecond, and uPlot (the smallest serious option,
 * ~45 kB) would still need this file's interactions and tooltip written
 * around it. Smoothing follows TensorBoard: a debiased exponential moving
 * average over the points shown.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';

export interface ChartSeries {
  key: string;
  label: string;
  color: string;
  /** Ascending steps and their values (same length). */
  steps: ArrayLike<number>;
  values: ArrayLike<number>;
}

export type Range = [number, number];

export interface LineChartProps {
  title: string;
  /** Shown left of the toolbar (the chart's heading). */
  heading?: ComponentChildren;
  series: ChartSeries[];
  /** The whole step range (for reset, pan limits); null: the data's extent. */
  domain: Range | null;
  /** The step range shown; null: the whole domain. */
  view: Range | null;
  onView: (v: Range | null) => void;
  /** Called with the plot's width in CSS pixels when it changes. */
  onWidth?: (w: number) => void;
  height?: number;
  busy?: boolean;
  /** Shown under the legend (e.g. how many points are drawn of how many). */
  note?: ComponentChildren;
  /** More controls in the toolbar. */
  tools?: ComponentChildren;
  /** How an x value reads (ticks, tooltip); default: a step number. Pass a stable function. */
  formatX?: (x: number) => string;
  /** What x is called in the tooltip and the chart's description; default "step". */
  xName?: string;
}

const M = { left: 58, right: 14, top: 10, bottom: 26 };
const MIN_SPAN = 2;
let chartSeq = 0;

/* --- numbers --------------------------------------------------------------- */

/** First index with steps[i] >= x. */
function lowerBound(a: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the step nearest to x (-1 if empty). */
function nearest(a: ArrayLike<number>, x: number): number {
  if (!a.length) return -1;
  const i = lowerBound(a, x);
  if (i === 0) return 0;
  if (i === a.length) return a.length - 1;
  return x - a[i - 1] <= a[i] - x ? i - 1 : i;
}

/** TensorBoard's smoothing: an exponential moving average, debiased. */
export function ema(values: ArrayLike<number>, weight: number): Float64Array {
  const out = new Float64Array(values.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      out[i] = NaN;
      continue;
    }
    last = last * weight + (1 - weight) * v;
    n++;
    out[i] = weight > 0 ? last / (1 - Math.pow(weight, n)) : v;
  }
  return out;
}

/** About `count` round tick values covering [lo, hi]. */
function niceTicks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo;
  if (!(span > 0) || !Number.isFinite(span)) return [lo];
  const raw = span / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / mag;
  const step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return ticks;
}

function formatTick(v: number, step: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
  if (a !== 0 && a < 1e-3) return v.toExponential(1);
  const digits = step >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(step)));
  return v.toFixed(digits);
}

export function formatStep(s: number): string {
  return Math.round(s).toLocaleString('en-US');
}

function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return '—';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return v.toExponential(4);
  return String(Number(v.toPrecision(6)));
}

/* --- the component --------------------------------------------------------------- */

interface Hover {
  step: number;
  /** Set when the keyboard moved it: the live region reads it. */
  keyboard: boolean;
}

export function LineChart(p: LineChartProps) {
  const id = useRef(`chart-${++chartSeq}`).current;
  const wrap = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const [width, setWidth] = useState(0);
  const height = p.height ?? 260;
  const [smoothing, setSmoothing] = useState(0);
  const [logY, setLogY] = useState(false);
  const [hidden, setHidden] = useState<ReadonlySet<string>>(new Set());
  const [hover, setHover] = useState<Hover | null>(null);
  const [sel, setSel] = useState<Range | null>(null); // pixels, while dragging
  const [hint, setHint] = useState(false);
  const drag = useRef<{ mode: 'select' | 'pan'; x0: number; view: Range } | null>(null);
  const hintTimer = useRef(0);
  const plotW = Math.max(10, width - M.left - M.right);
  const plotH = Math.max(10, height - M.top - M.bottom);

  const onWidthRef = useRef(p.onWidth);
  onWidthRef.current = p.onWidth;
  useLayoutEffect(() => {
    const el = wrap.current;
    if (!el) return;
    const measure = () => setWidth(Math.floor(el.clientWidth));
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  useEffect(() => {
    if (width > 0) onWidthRef.current?.(Math.max(10, width - M.left - M.right));
  }, [width]);

  const shown = useMemo(() => p.series.filter((s) => !hidden.has(s.key)), [p.series, hidden]);
  const smoothed = useMemo(
    () => (smoothing > 0 ? new Map(p.series.map((s) => [s.key, ema(s.values, smoothing)])) : null),
    [p.series, smoothing],
  );

  /* the x range: the view, else the domain, else the data */
  const xr = useMemo<Range>(() => {
    if (p.view) return p.view;
    if (p.domain) return p.domain[1] > p.domain[0] ? p.domain : [p.domain[0] - 1, p.domain[0] + 1];
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of p.series) {
      if (!s.steps.length) continue;
      lo = Math.min(lo, s.steps[0]);
      hi = Math.max(hi, s.steps[s.steps.length - 1]);
    }
    if (!Number.isFinite(lo)) return [0, 1];
    return hi > lo ? [lo, hi] : [lo - 1, lo + 1];
  }, [p.view, p.domain, p.series]);

  const ty = (v: number) => (logY ? (v > 0 ? Math.log10(v) : NaN) : v);

  /* the y range over what is visible */
  const yr = useMemo<Range>(() => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of shown) {
      const a = Math.max(0, lowerBound(s.steps, xr[0]) - 1);
      const b = Math.min(s.steps.length, lowerBound(s.steps, xr[1]) + 1);
      const sm = smoothed?.get(s.key);
      for (let i = a; i < b; i++) {
        for (const raw of sm ? [s.values[i], sm[i]] : [s.values[i]]) {
          const v = ty(raw);
          if (!Number.isFinite(v)) continue;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
      }
    }
    if (!Number.isFinite(lo)) return logY ? [0, 1] : [0, 1];
    if (hi === lo) return [lo - (Math.abs(lo) || 1) * 0.1, hi + (Math.abs(hi) || 1) * 0.1];
    const pad = (hi - lo) * 0.05;
    return [lo - pad, hi + pad];
  }, [shown, xr, logY, smoothed]);

  const xPx = (s: number) => M.left + ((s - xr[0]) / (xr[1] - xr[0])) * plotW;
  const yPx = (v: number) => M.top + plotH - ((v - yr[0]) / (yr[1] - yr[0])) * plotH;
  const stepAt = (px: number) => xr[0] + ((px - M.left) / plotW) * (xr[1] - xr[0]);

  /* --- drawing --- */
  useLayoutEffect(() => {
    const c = canvas.current;
    if (!c || width <= 0) return;
    const dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(width * dpr) || c.height !== Math.round(height * dpr)) {
      c.width = Math.round(width * dpr);
      c.height = Math.round(height * dpr);
    }
    const ctx = c.getContext('2d');
    if (!ctx) return;
    const css = getComputedStyle(c);
    const col = (name: string, dflt: string) => css.getPropertyValue(name).trim() || dflt;
    const text = col('--muted', '#5b6470');
    const grid = col('--border', '#d9dde3');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = '11px system-ui, sans-serif';
    ctx.lineWidth = 1;

    /* grid and axes */
    const yt = logY ? logTicks(yr) : niceTicks(yr[0], yr[1], Math.max(2, Math.floor(plotH / 45)));
    const ystep = yt.length > 1 ? yt[1] - yt[0] : 1;
    ctx.strokeStyle = grid;
    ctx.fillStyle = text;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const t of yt) {
      const y = Math.round(yPx(t)) + 0.5;
      if (y < M.top - 1 || y > M.top + plotH + 1) continue;
      ctx.beginPath();
      ctx.moveTo(M.left, y);
      ctx.lineTo(M.left + plotW, y);
      ctx.stroke();
      ctx.fillText(logY ? formatNumber(Math.pow(10, t)) : formatTick(t, ystep), M.left - 6, y);
    }
    const xt = niceTicks(xr[0], xr[1], Math.max(2, Math.floor(plotW / 90)));
    const xstep = Math.max(1, xt.length > 1 ? xt[1] - xt[0] : 1);
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const t of xt) {
      if (xstep >= 1 && Math.abs(t - Math.round(t)) > 1e-9) continue;
      const x = Math.round(xPx(t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, M.top);
      ctx.lineTo(x, M.top + plotH);
      ctx.stroke();
      ctx.fillText(p.formatX ? p.formatX(t) : formatTick(t, xstep), x, M.top + plotH + 6);
    }
    ctx.strokeRect(M.left + 0.5, M.top + 0.5, plotW, plotH);

    /* series */
    ctx.save();
    ctx.beginPath();
    ctx.rect(M.left, M.top, plotW, plotH);
    ctx.clip();
    let points = 0;
    const line = (steps: ArrayLike<number>, values: ArrayLike<number>, color: string, alpha: number, lw: number) => {
      const a = Math.max(0, lowerBound(steps, xr[0]) - 1);
      const b = Math.min(steps.length, lowerBound(steps, xr[1]) + 1);
      ctx.globalAlpha = alpha;
      ctx.strokeStyle = color;
      ctx.lineWidth = lw;
      ctx.lineJoin = 'round';
      ctx.beginPath();
      let pen = false;
      for (let i = a; i < b; i++) {
        const v = ty(values[i]);
        if (!Number.isFinite(v)) {
          pen = false;
          continue;
        }
        const x = xPx(steps[i]);
        const y = yPx(v);
        if (pen) ctx.lineTo(x, y);
        else ctx.moveTo(x, y);
        pen = true;
      }
      ctx.stroke();
      /* a lone point (or a series of one) would not show as a line */
      if (b - a <= 2) {
        ctx.fillStyle = color;
        for (let i = a; i < b; i++) {
          const v = ty(values[i]);
          if (Number.isFinite(v)) {
            ctx.beginPath();
            ctx.arc(xPx(steps[i]), yPx(v), 2.5, 0, Math.PI * 2);
            ctx.fill();
          }
        }
      }
      return Math.max(0, b - a);
    };
    for (const s of shown) {
      const sm = smoothed?.get(s.key);
      if (sm) {
        line(s.steps, s.values, s.color, 0.25, 1);
        points += line(s.steps, sm, s.color, 1, 1.6);
      } else {
        points += line(s.steps, s.values, s.color, 1, 1.4);
      }
    }
    ctx.globalAlpha = 1;

    /* the hovered step */
    if (hover) {
      const x = Math.round(xPx(hover.step)) + 0.5;
      ctx.strokeStyle = text;
      ctx.lineWidth = 1;
      ctx.setLineDash([3, 3]);
      ctx.beginPath();
      ctx.moveTo(x, M.top);
      ctx.lineTo(x, M.top + plotH);
      ctx.stroke();
      ctx.setLineDash([]);
      for (const s of shown) {
        const i = nearest(s.steps, hover.step);
        if (i < 0) continue;
        const v = ty((smoothed?.get(s.key) ?? s.values)[i]);
        if (!Number.isFinite(v)) continue;
        ctx.fillStyle = s.color;
        ctx.beginPath();
        ctx.arc(xPx(s.steps[i]), yPx(v), 3.5, 0, Math.PI * 2);
        ctx.fill();
      }
    }
    ctx.restore();
    const plot = wrap.current;
    if (plot) {
      plot.dataset.series = String(shown.length);
      plot.dataset.points = String(points);
      plot.dataset.view = `${Math.round(xr[0])}-${Math.round(xr[1])}`;
    }
  });

  /* --- interactions --- */
  const clampView = (v: Range): Range | null => {
    let [a, b] = v;
    if (b - a < MIN_SPAN) {
      const mid = (a + b) / 2;
      a = mid - MIN_SPAN / 2;
      b = mid + MIN_SPAN / 2;
    }
    const d = p.domain;
    if (d) {
      const span = b - a;
      if (span >= d[1] - d[0]) return null;
      if (a < d[0]) [a, b] = [d[0], d[0] + span];
      if (b > d[1]) [a, b] = [d[1] - span, d[1]];
    }
    return [a, b];
  };
  const zoom = (factor: number, anchor: number) => {
    const [a, b] = xr;
    p.onView(clampView([anchor - (anchor - a) * factor, anchor + (b - anchor) * factor]));
  };
  const pan = (dSteps: number) => {
    if (!p.view) return;
    p.onView(clampView([p.view[0] + dSteps, p.view[1] + dSteps]));
  };

  const localX = (e: MouseEvent) => e.clientX - (wrap.current?.getBoundingClientRect().left ?? 0);

  const hoverAt = (px: number, keyboard = false) => {
    const s = stepAt(px);
    let best = NaN;
    for (const ser of shown) {
      const i = nearest(ser.steps, s);
      if (i >= 0 && (Number.isNaN(best) || Math.abs(ser.steps[i] - s) < Math.abs(best - s))) best = ser.steps[i];
    }
    setHover(Number.isNaN(best) ? null : { step: best, keyboard });
  };

  /* the previous / next point of any shown series */
  const stepNext = (from: number, dir: 1 | -1): number | null => {
    let best: number | null = null;
    for (const s of shown) {
      const i = dir > 0 ? lowerBound(s.steps, from + 1e-9) : lowerBound(s.steps, from - 1e-9) - 1;
      if (i < 0 || i >= s.steps.length) continue;
      const v = s.steps[i];
      if (best === null || (dir > 0 ? v < best : v > best)) best = v;
    }
    return best;
  };

  useEffect(() => {
    const el = wrap.current;
    if (!el) return;
    const onWheel = (e: WheelEvent) => {
      const focused = document.activeElement === el;
      if (!e.ctrlKey && !e.metaKey && !focused) {
        window.clearTimeout(hintTimer.current);
        setHint(true);
        hintTimer.current = window.setTimeout(() => setHint(false), 1200);
        return;
      }
      e.preventDefault();
      const px = e.clientX - el.getBoundingClientRect().left;
      if (px < M.left || px > M.left + plotW) return;
      zoom(Math.exp(Math.max(-1, Math.min(1, e.deltaY * (e.deltaMode ? 0.05 : 0.002)))), stepAt(px));
    };
    el.addEventListener('wheel', onWheel, { passive: false });
    return () => el.removeEventListener('wheel', onWheel);
  });
  useEffect(() => () => window.clearTimeout(hintTimer.current), []);

  const onPointerDown = (e: PointerEvent) => {
    const px = localX(e);
    if (px < M.left || px > M.left + plotW || (e.button !== 0 && e.button !== 1)) return;
    (e.currentTarget as HTMLElement).setPointerCapture(e.pointerId);
    const mode = e.shiftKey || e.button === 1 ? 'pan' : 'select';
    drag.current = { mode, x0: px, view: xr };
    if (mode === 'select') setSel([px, px]);
    /* the plot takes focus from the click itself (tabIndex), so the wheel then zooms */
  };
  const onPointerMove = (e: PointerEvent) => {
    const px = localX(e);
    const d = drag.current;
    if (!d) {
      if (px >= M.left && px <= M.left + plotW) hoverAt(px);
      else setHover(null);
      return;
    }
    if (d.mode === 'select') {
      setSel([d.x0, Math.max(M.left, Math.min(M.left + plotW, px))]);
    } else if (p.view || p.domain) {
      const span = d.view[1] - d.view[0];
      const ds = -((px - d.x0) / plotW) * span;
      const next = clampView([d.view[0] + ds, d.view[1] + ds]);
      if (next || p.view) p.onView(next ?? null);
    }
  };
  const onPointerUp = (e: PointerEvent) => {
    const d = drag.current;
    drag.current = null;
    if (d?.mode === 'select' && sel) {
      const a = Math.min(sel[0], sel[1]);
      const b = Math.max(sel[0], sel[1]);
      if (b - a >= 4) p.onView(clampView([stepAt(a), stepAt(b)]));
    }
    setSel(null);
    try {
      (e.currentTarget as HTMLElement).releasePointerCapture(e.pointerId);
    } catch {
      /* not captured */
    }
  };
  const onKeyDown = (e: KeyboardEvent) => {
    const span = xr[1] - xr[0];
    const cur = hover?.step ?? (e.key === 'ArrowLeft' ? xr[1] + 1 : xr[0] - 1);
    switch (e.key) {
      case 'ArrowLeft':
      case 'ArrowRight': {
        const dir = e.key === 'ArrowLeft' ? -1 : 1;
        if (e.shiftKey) pan(dir * span * 0.2);
        else {
          const s = stepNext(cur, dir);
          if (s !== null) setHover({ step: s, keyboard: true });
        }
        break;
      }
      case 'Home':
      case 'End': {
        const s = stepNext(e.key === 'Home' ? xr[0] - 1 : xr[1] + 1, e.key === 'Home' ? 1 : -1);
        if (s !== null) setHover({ step: s, keyboard: true });
        break;
      }
      case '+':
      case '=':
        zoom(0.5, hover?.step ?? (xr[0] + xr[1]) / 2);
        break;
      case '-':
        zoom(2, hover?.step ?? (xr[0] + xr[1]) / 2);
        break;
      case '0':
        p.onView(null);
        break;
      case 'Escape':
        setHover(null);
        break;
      default:
        return;
    }
    e.preventDefault();
  };

  /* --- tooltip --- */
  const tip = hover
    ? shown
        .map((s) => {
          const i = nearest(s.steps, hover.step);
          if (i < 0) return null;
          return { s, step: s.steps[i], value: s.values[i], smooth: smoothed?.get(s.key)?.[i] };
        })
        .filter((x): x is NonNullable<typeof x> => x !== null)
    : [];
  const fx = p.formatX ?? formatStep;
  const xName = p.xName ?? 'step';
  const tipText = hover
    ? `${xName} ${fx(hover.step)}: ` +
      tip.map((t) => `${t.s.label} ${formatNumber(t.value)}${t.step !== hover.step ? ` at ${xName} ${fx(t.step)}` : ''}`).join(', ')
    : '';
  const hx = hover ? xPx(hover.step) : 0;
  const tipLeft = hx > width - 230 ? undefined : hx + 12;
  const tipRight = hx > width - 230 ? width - hx + 12 : undefined;

  const toggle = (key: string) =>
    setHidden((h) => {
      const n = new Set(h);
      if (n.has(key)) n.delete(key);
      else n.add(key);
      return n;
    });

  const xLabel = `${xName === 'step' ? 'steps' : xName} ${fx(xr[0])} to ${fx(xr[1])}`;
  return (
    <div class="chart" data-testid="chart">
      <div class="chart-head">
      {p.heading}
      <div class="chart-tools" role="toolbar" aria-label={`${p.title} chart controls`}>
        <label class="chart-smoothing">
          Smoothing
          <input
            type="range"
            min={0}
            max={0.99}
            step={0.01}
            value={smoothing}
            onInput={(e) => setSmoothing(Number((e.target as HTMLInputElement).value))}
          />
          <output>{smoothing.toFixed(2)}</output>
        </label>
        <label class="chart-check">
          <input type="checkbox" checked={logY} onChange={(e) => setLogY((e.target as HTMLInputElement).checked)} />
          Log scale
        </label>
        {p.tools}
        <button type="button" class="button button-small" disabled={!p.view} onClick={() => p.onView(null)}>
          Reset zoom
        </button>
      </div>
      </div>
      <div
        ref={wrap}
        class="chart-plot"
        style={{ height: `${height}px` }}
        tabIndex={0}
        role="group"
        aria-roledescription="line chart"
        aria-label={`${p.title}: ${shown.length} series, ${xLabel}${logY ? ', log scale' : ''}. Arrow keys read values, plus and minus zoom, Shift+arrows pan, 0 resets.`}
        aria-busy={p.busy ? true : undefined}
        aria-describedby={`${id}-help`}
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={onPointerUp}
        onPointerCancel={() => {
          drag.current = null;
          setSel(null);
        }}
        onPointerLeave={() => {
          if (!drag.current) setHover((h) => (h?.keyboard ? h : null));
        }}
        onDblClick={() => p.onView(null)}
        onKeyDown={onKeyDown}
        onBlur={() => setHover(null)}
      >
        <canvas ref={canvas} style={{ width: `${width}px`, height: `${height}px` }} aria-hidden="true" />
        {sel && Math.abs(sel[1] - sel[0]) > 1 && (
          <div
            class="chart-selection"
            style={{ left: `${Math.min(sel[0], sel[1])}px`, width: `${Math.abs(sel[1] - sel[0])}px`, top: `${M.top}px`, height: `${plotH}px` }}
          />
        )}
        {hover && tip.length > 0 && (
          <div class="chart-tooltip" data-testid="chart-tooltip" style={{ left: tipLeft !== undefined ? `${tipLeft}px` : undefined, right: tipRight !== undefined ? `${tipRight}px` : undefined, top: `${M.top + 4}px` }}>
            <div class="chart-tooltip-step">
              {xName} <span data-testid="tooltip-step">{fx(hover.step)}</span>
            </div>
            {tip.map((t) => (
              <div class="chart-tooltip-row" key={t.s.key} data-series={t.s.label}>
                <span class="swatch" style={{ background: t.s.color }} aria-hidden="true" />
                <span class="chart-tooltip-label">{t.s.label}</span>
                <span class="chart-tooltip-value" data-testid="tooltip-value">
                  {formatNumber(t.value)}
                </span>
                {t.smooth !== undefined && <span class="muted"> ({formatNumber(t.smooth)} smoothed)</span>}
                {t.step !== hover.step && <span class="muted"> at {fx(t.step)}</span>}
              </div>
            ))}
          </div>
        )}
        {hint && <div class="chart-hint">Hold Ctrl and scroll to zoom, or click the chart first</div>}
        {p.busy && <div class="chart-busy" aria-hidden="true" />}
      </div>
      <div class="sr-only" aria-live="polite">
        {hover?.keyboard ? tipText : ''}
      </div>
      <p class="sr-only" id={`${id}-help`}>
        Drag across the chart to zoom into a range of steps; Shift and drag to pan; double click to show everything.
      </p>
      <ul class="chart-legend" aria-label={`${p.title} series`}>
        {p.series.map((s) => (
          <li key={s.key}>
            <button type="button" class="legend-item" aria-pressed={!hidden.has(s.key)} onClick={() => toggle(s.key)} title={hidden.has(s.key) ? 'Show this series' : 'Hide this series'}>
              <span class="swatch" style={{ background: s.color }} aria-hidden="true" />
              {s.label}
            </button>
          </li>
        ))}
      </ul>
      {p.note && <p class="chart-note">{p.note}</p>}
    </div>
  );
}

/** Ticks of a log10 axis (the values are exponents): powers of ten, with
 * 2 and 5 between them when the range spans few decades. */
function logTicks(r: Range): number[] {
  const decades = r[1] - r[0];
  if (decades < 0.6)
    /* less than a decade: round values, placed in log space */
    return niceTicks(Math.pow(10, r[0]), Math.pow(10, r[1]), 4)
      .filter((v) => v > 0)
      .map((v) => Math.log10(v));
  const mult = decades <= 2.5 ? [1, 2, 5] : [1];
  const every = Math.max(1, Math.ceil(decades / 6));
  const t: number[] = [];
  for (let e = Math.floor(r[0]); e <= Math.ceil(r[1]); e += every)
    for (const m of mult) {
      const x = e + Math.log10(m);
      if (x >= r[0] && x <= r[1]) t.push(x);
    }
  return t;
}
