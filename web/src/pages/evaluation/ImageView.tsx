/*
 * ImageView.tsx - one image of an evaluation (GET /evaluations/{id}/images/
 * {asset}): the picture with the ground truth and the predictions drawn over
 * it in SVG, coloured by what the run made of them, and a score slider.
 *
 *   prediction  TP green, FP red (its error type in the label), ignored grey;
 *               predictions the run left out (below its score threshold or
 *               past maxDets) dashed grey
 *   truth       matched: dashed green; missed (FN) orange; crowd or
 *               otherwise ignored: grey
 *
 * The slider hides predictions scoring under it. Nothing is recomputed:
 * matches are the run's, at its own thresholds (shown above the slider).
 * Classification images list the true and predicted classes instead.
 */
import { useMemo, useState } from 'preact/hooks';
import { ErrorBox } from '../../components/Table';
import { api } from '../../lib/api';
import { useLoad } from '../../lib/hooks';
import { COLORS, type ImageDetail, type Match, type Shape } from './evaluation';

type Look = { color: string; dash?: string; text: string; state: string };

function predLook(m: Match | undefined, s: Shape, scoreThr: number): Look {
  const sc = s.score ?? 0;
  if (!m) return { color: COLORS.below, dash: '4 3', text: `${s.label} ${sc.toFixed(2)}`, state: sc < scoreThr ? 'below threshold' : 'not evaluated' };
  if (m.kind === 'tp') return { color: COLORS.tp, text: `${s.label} ${sc.toFixed(2)} · IoU ${(m.iou ?? 0).toFixed(2)}`, state: 'tp' };
  if (m.kind === 'ignored') return { color: COLORS.ignored, text: `${s.label} ${sc.toFixed(2)}`, state: 'ignored' };
  return { color: COLORS.fp, text: `${s.label} ${sc.toFixed(2)}${m.error ? ` · ${m.error}` : ''}`, state: 'fp' };
}

function ShapeSvg({ s, look, scale, below }: { s: Shape; look: Look; scale: number; below?: boolean }) {
  const sw = 2 / scale;
  const common = { fill: 'none', stroke: look.color, 'stroke-width': sw, 'stroke-dasharray': look.dash ? look.dash.split(' ').map((v) => Number(v) / scale).join(' ') : undefined };
  const box = s.box ?? s.bbox;
  let body = null;
  if (s.kind === 'polygon' && s.rings) {
    body = s.rings.map((r, i) => <polygon key={i} points={r.join(' ')} {...common} />);
  } else if (s.kind === 'keypoints' && s.keypoints) {
    const kp = s.keypoints;
    const dots = [];
    for (let i = 0; i + 2 < kp.length; i += 3) if (kp[i + 2] > 0) dots.push(<circle key={i} cx={kp[i]} cy={kp[i + 1]} r={3 / scale} fill={look.color} />);
    body = dots;
  } else if (box) {
    body = <rect x={box[0]} y={box[1]} width={box[2]} height={box[3]} {...common} />;
  }
  /* predictions are labelled above their box, ground truth below, so both read */
  const tx = box ? box[0] : 0;
  const ty = box ? (below ? box[1] + box[3] + 12 / scale : box[1]) : 0;
  return (
    <g data-shape={s.id} data-state={look.state}>
      {body}
      <text x={tx} y={ty} dy={-3 / scale} font-size={11 / scale} fill={look.color} stroke="#fff" stroke-width={3 / scale} paint-order="stroke">
        {look.text}
      </text>
    </g>
  );
}

export function ImageView({ evalId, asset, task }: { evalId: number; asset: number; task: string }) {
  const d = useLoad((signal) => api.get<ImageDetail>(`/evaluations/${evalId}/images/${asset}`, undefined, signal), [evalId, asset]);
  const img = d.data;
  const scoreThr = img?.params?.score_thr ?? 0.5;
  const [thr, setThr] = useState<number | null>(null);
  const t = thr ?? scoreThr;
  const byPred = useMemo(() => new Map((img?.matches ?? []).filter((m) => m.prediction_id !== null).map((m) => [m.prediction_id as number, m])), [img]);
  const gtState = useMemo(() => {
    const m = new Map<number, string>();
    for (const x of img?.matches ?? []) {
      if (x.gt_id === null) continue;
      if (x.kind === 'tp') m.set(x.gt_id, 'matched');
      else if (x.kind === 'fn') m.set(x.gt_id, 'fn');
      else if (!m.has(x.gt_id)) m.set(x.gt_id, x.kind === 'fp' ? 'other' : 'ignored');
    }
    return m;
  }, [img]);
  if (d.error && !img) return <ErrorBox message={d.error} onRetry={d.reload} />;
  if (!img) return <p class="muted">Loading…</p>;
  const w = img.width ?? 1;
  const h = img.height ?? 1;
  const scale = Math.min(1, 760 / w) * Math.max(1, Math.min(8, 480 / h, 760 / w));
  const shownPreds = img.predictions.filter((p) => (p.score ?? 1) >= t);
  const counts = { tp: 0, fp: 0, other: 0 };
  for (const p of shownPreds) {
    const k = byPred.get(p.id)?.kind;
    if (k === 'tp') counts.tp++;
    else if (k === 'fp') counts.fp++;
    else counts.other++;
  }
  const fn = img.matches.filter((m) => m.kind === 'fn').length;
  const gtLook = (s: Shape): Look => {
    const st = gtState.get(s.id) ?? 'ignored';
    if (st === 'fn') return { color: COLORS.fn, text: `${s.label} (missed)`, state: 'fn' };
    if (st === 'matched') return { color: COLORS.tp, dash: '6 4', text: s.label, state: 'gt-matched' };
    return { color: COLORS.gt, dash: '2 3', text: s.label, state: 'gt' };
  };
  return (
    <div class="ev-image">
      <div class="ev-image-bar">
        <label class="ev-slider">
          <span>
            Score ≥ <output data-testid="ev-threshold">{t.toFixed(2)}</output>
          </span>
          <input
            type="range"
            min="0"
            max="1"
            step="0.01"
            value={t}
            aria-label="Score threshold"
            onInput={(e) => setThr(Number((e.target as HTMLInputElement).value))}
          />
        </label>
        <span class="muted" data-testid="ev-shown">
          {shownPreds.length} of {img.predictions.length} predictions shown · {counts.tp} TP · {counts.fp} FP · {fn} FN
        </span>
      </div>
      <p class="muted ev-note">
        Matches are the run's: IoU ≥ {img.params?.iou_thr ?? 0.5}, predictions scoring ≥ {scoreThr}. The slider only hides predictions.
      </p>
      <ul class="ev-legend" aria-label="Legend">
        <li><span style={{ background: COLORS.tp }} /> true positive</li>
        <li><span style={{ background: COLORS.fp }} /> false positive</li>
        <li><span style={{ background: COLORS.fn }} /> missed ground truth (FN)</li>
        <li><span class="ev-dashed" style={{ borderColor: COLORS.tp }} /> matched ground truth</li>
        <li><span class="ev-dashed" style={{ borderColor: COLORS.below }} /> not evaluated (under the run's threshold)</li>
      </ul>
      {task === 'classification' ? (
        <div class="ev-cls">
          {img.data_id !== null && <img src={`/api/v1/data/${img.data_id}/original`} alt={img.filename ?? ''} class="ev-cls-img" />}
          <dl class="facts">
            <dt>Ground truth</dt>
            <dd>{img.ground_truth.map((g) => g.label).join(', ') || '—'}</dd>
            <dt>Predictions</dt>
            <dd>
              {shownPreds.length
                ? shownPreds.map((p) => {
                    const look = predLook(byPred.get(p.id), p, scoreThr);
                    return (
                      <span key={p.id} class="ev-chip" style={{ borderColor: look.color, color: look.color }} data-state={look.state}>
                        {p.label} {(p.score ?? 0).toFixed(2)}
                      </span>
                    );
                  })
                : '—'}
            </dd>
          </dl>
        </div>
      ) : (
        <div class="ev-canvas" style={{ width: `${w * scale}px`, height: `${h * scale}px` }}>
          {img.data_id !== null && <img src={`/api/v1/data/${img.data_id}/original`} alt={img.filename ?? ''} width={w * scale} height={h * scale} />}
          <svg viewBox={`0 0 ${w} ${h}`} width={w * scale} height={h * scale} role="img" aria-label="Ground truth and predictions" overflow="visible">
            {img.ground_truth.map((g) => (
              <ShapeSvg key={`g${g.id}`} s={g} look={gtLook(g)} scale={scale} below />
            ))}
            {shownPreds.map((p) => (
              <ShapeSvg key={`p${p.id}`} s={p} look={predLook(byPred.get(p.id), p, scoreThr)} scale={scale} />
            ))}
          </svg>
        </div>
      )}
    </div>
  );
}
