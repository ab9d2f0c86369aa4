/*
 * evaluation.ts - the evaluation API's documents (see docs/evaluation.md)
 * and small helpers shared by the evaluation pages.
 */
export type EvalTask = 'detection' | 'segmentation' | 'keypoints' | 'classification';

export interface EvalSummary {
  iou_type?: string;
  stats?: number[];
  stat_names?: string[];
  text?: string;
  images: number;
  labels: number;
  ground_truths?: number;
  predictions: number;
  predictions_outside: number;
  detail?: {
    iou_thr: number;
    score_thr: number;
    bg_thr: number;
    tp: number;
    fp: number;
    fn: number;
    errors: Record<string, number>;
  };
  /* classification */
  items?: number;
  has_scores?: boolean;
  top_k?: number;
  metrics?: Record<string, number>;
  seconds_load?: number;
  seconds_eval?: number;
}

export interface Evaluation {
  id: number;
  experiment_id: number;
  dataset_version_id: number;
  dataset: string;
  dataset_version: string;
  name: string;
  description: string;
  task: EvalTask;
  iou_type: string | null;
  metric_prefix: string;
  status: 'created' | 'queued' | 'running' | 'succeeded' | 'failed';
  job_id: number | null;
  progress?: number;
  error: string | null;
  predictions: number;
  predicted_assets: number;
  created_at: string;
  predictions_at: string | null;
  evaluated_at: string | null;
  stale: boolean;
  params: { ground_truth: string; split: string | null; iou_thr: number; score_thr: number; bg_thr: number } | null;
  summary: EvalSummary | null;
}

export interface PrLabel {
  label: string;
  label_id: number;
  metrics: Record<string, number>;
  precision50: number[] | null;
  precision: number[] | null;
  scores50: number[] | null;
}

export interface PrCurves {
  task: EvalTask;
  recall: number[];
  labels: PrLabel[];
}

export interface Confusion {
  labels: string[];
  label_ids: (number | null)[];
  matrix: number[][];
}

export interface CellPage {
  row: number;
  col: number;
  row_label: string;
  col_label: string;
  count: number;
  assets: number;
  truncated: boolean;
  items: { asset_id: number; data_id: number | null; filename?: string; width?: number; height?: number; count: number }[];
  next_cursor: string | null;
}

export interface EvalImage {
  asset_id: number;
  data_id: number | null;
  filename: string | null;
  width: number | null;
  height: number | null;
  tp: number;
  fp: number;
  fn: number;
  ground_truths: number;
  predictions: number;
  errors: number;
  min_iou: number | null;
  mean_iou: number | null;
  max_fp_score: number | null;
  worst_error: string | null;
}

export interface ImagesPage {
  total?: number;
  order_by: string;
  items: EvalImage[];
  next_cursor: string | null;
}

export interface Shape {
  id: number;
  kind: string;
  label: string;
  label_id: number;
  box?: number[];
  bbox?: number[];
  rings?: number[][];
  points?: number[];
  point?: number[];
  keypoints?: number[];
  score?: number;
}

export interface Match {
  kind: 'tp' | 'fp' | 'ignored' | 'fn' | 'gt';
  prediction_id: number | null;
  gt_id: number | null;
  iou?: number;
  score?: number;
  error?: string;
}

export interface ImageDetail {
  evaluation_id: number;
  asset_id: number;
  data_id: number | null;
  filename?: string;
  width?: number;
  height?: number;
  tp: number;
  fp: number;
  fn: number;
  params: Evaluation['params'];
  matches: Match[];
  ground_truth: Shape[];
  predictions: Shape[];
}

/** The 12 (keypoints: 10) COCO numbers, as the reference prints them. */
export const DET_STAT_LABELS = [
  'AP @[ IoU=0.50:0.95 | area=all | maxDets=100 ]',
  'AP @[ IoU=0.50 | area=all | maxDets=100 ]',
  'AP @[ IoU=0.75 | area=all | maxDets=100 ]',
  'AP @[ IoU=0.50:0.95 | area=small | maxDets=100 ]',
  'AP @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]',
  'AP @[ IoU=0.50:0.95 | area=large | maxDets=100 ]',
  'AR @[ IoU=0.50:0.95 | area=all | maxDets=1 ]',
  'AR @[ IoU=0.50:0.95 | area=all | maxDets=10 ]',
  'AR @[ IoU=0.50:0.95 | area=all | maxDets=100 ]',
  'AR @[ IoU=0.50:0.95 | area=small | maxDets=100 ]',
  'AR @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]',
  'AR @[ IoU=0.50:0.95 | area=large | maxDets=100 ]',
];
export const KP_STAT_LABELS = [
  'AP @[ IoU=0.50:0.95 | area=all | maxDets=20 ]',
  'AP @[ IoU=0.50 | area=all | maxDets=20 ]',
  'AP @[ IoU=0.75 | area=all | maxDets=20 ]',
  'AP @[ IoU=0.50:0.95 | area=medium | maxDets=20 ]',
  'AP @[ IoU=0.50:0.95 | area=large | maxDets=20 ]',
  'AR @[ IoU=0.50:0.95 | area=all | maxDets=20 ]',
  'AR @[ IoU=0.50 | area=all | maxDets=20 ]',
  'AR @[ IoU=0.75 | area=all | maxDets=20 ]',
  'AR @[ IoU=0.50:0.95 | area=medium | maxDets=20 ]',
  'AR @[ IoU=0.50:0.95 | area=large | maxDets=20 ]',
];

/** A metric for display: -1 (undefined) shows as a dash. */
export function metric(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v) || v < 0) return '—';
  return v.toFixed(digits);
}

/** "1 image", "2,000 images": a count with its noun. */
export function count(n: number, noun: string): string {
  return `${n.toLocaleString('en-US')} ${noun}${n === 1 ? '' : 's'}`;
}

export function evalHref(pid: number | string, e: { id: number; experiment_id: number }, query?: string): string {
  return `/projects/${pid}/experiments/${e.experiment_id}/evaluations/${e.id}${query ? `?${query}` : ''}`;
}

/** Colours of the drawing and the legend. */
export const COLORS = {
  tp: '#2b9348',
  fp: '#e03131',
  fn: '#f08c00',
  gt: '#1c7ed6',
  ignored: '#868e96',
  below: '#adb5bd',
};
