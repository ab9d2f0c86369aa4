/*
 * deploy.ts - deployments, their monitoring rollups, alerts and predictions
 * with their review (docs/operations.md).
 */
import { api } from './api';
import type { Completion } from './types';

export interface Deployment {
  id: number;
  name: string;
  description: string | null;
  mode: 'serve' | 'monitor';
  champion_version_id: number | null;
  shadow_version_id: number | null;
  datalake_id: number | null;
  sample_rate: number;
  min_score: number;
  created_at: string;
  predictions: number;
  alerts_firing: number;
}

export type Resolution = 'minute' | 'hour' | 'day';

export interface Bucket {
  t: string;
  count: number;
  errors: number;
  latency_mean: number | null;
  latency_p50: number | null;
  latency_p95: number | null;
  latency_p99: number | null;
  objects_per_image: number | null;
  score_mean: number | null;
  agreement: number | null;
}

export interface Metrics {
  resolution: Resolution;
  series: Bucket[];
  totals: {
    count: number;
    errors: number;
    latency_mean: number | null;
    latency_p50: number | null;
    latency_p95: number | null;
    latency_p99: number | null;
    objects_per_image: number | null;
    agreement: number | null;
    /** 10 bins of top score: [0, 0.1), ... [0.9, 1] */
    score_histogram: number[];
  };
  labels: { label: string; count: number }[];
}

export interface Alert {
  id: number;
  name: string;
  metric: string;
  op: string;
  threshold: number;
  window_minutes: number;
  state: string;
  since: string | null;
  last_value: number | null;
}

export interface OutClass {
  label: string;
  score?: number | null;
}
export interface OutBox {
  x: number;
  y: number;
  w: number;
  h: number;
  label: string;
  score?: number | null;
}
export interface Output {
  classes?: OutClass[];
  boxes?: OutBox[];
}

export type PredStatus = 'to_review' | 'reviewed' | 'submitted';
export const PRED_STATUSES: PredStatus[] = ['to_review', 'reviewed', 'submitted'];

export interface Prediction {
  id: number;
  deployment_id: number;
  sha256: string;
  data_id: number | null;
  champion_version_id: number | null;
  shadow_version_id: number | null;
  output: Output | null;
  shadow_output: Output | null;
  top_label: string | null;
  top_score: number | null;
  objects: number;
  latency_ms: number;
  at: string;
  source: string | null;
  error: boolean;
  features: { brightness?: number; contrast?: number; sharpness?: number; width?: number; height?: number } | null;
  status: PredStatus;
  review: Output | null;
  /** null until GET .../drift scored it */
  drift?: { outlier_pct: number | null; outlier: boolean; out_of_range: boolean } | null;
}

export interface PredFilter {
  /** the query language over predictions (docs/operations.md), ANDed with the rest */
  q?: string;
  status?: string;
  label?: string;
  min_score?: string;
  max_score?: string;
  from?: number;
  to?: number;
  /** 1: only outliers, 0: only the others (scored by GET .../drift) */
  outlier?: string;
  /** 1: only predictions with a feature outside the reference's range, 0: the others */
  out_of_range?: string;
}

/** The time range a resolution shows by default: a day of minutes, two weeks of hours, a year of days. */
export const RANGE_MS: Record<Resolution, number> = { minute: 24 * 3600e3, hour: 14 * 24 * 3600e3, day: 365 * 24 * 3600e3 };

export const deploy = {
  list: (signal?: AbortSignal) => api.get<{ items: Deployment[] }>('/deployments', undefined, signal).then((r) => r.items),
  get: (id: number, signal?: AbortSignal) => api.get<Deployment>(`/deployments/${id}`, undefined, signal),
  metrics: (id: number, resolution: Resolution, from: number, to: number, signal?: AbortSignal) =>
    api.get<Metrics>(`/deployments/${id}/metrics`, { resolution, from, to }, signal),
  alerts: (id: number, signal?: AbortSignal) => api.get<{ items: Alert[] }>(`/deployments/${id}/alerts`, undefined, signal).then((r) => r.items),
  checkAlerts: (id: number) => api.post<unknown>(`/deployments/${id}/alerts/check`),
  predictions: (id: number, f: PredFilter, cursor: string | number | null, signal?: AbortSignal, limit = 60) =>
    api.list<Prediction>(`/deployments/${id}/predictions`, { ...f, cursor, limit }, signal),
  autocomplete: (id: number, q: string, cursorBytes: number, signal?: AbortSignal) =>
    api.get<Completion>(`/deployments/${id}/predictions/autocomplete`, { q: q || undefined, cursor: cursorBytes }, signal),
  prediction: (id: number, signal?: AbortSignal) => api.get<Prediction>(`/predictions/${id}`, undefined, signal),
  review: (id: number, output: Output) => api.put<Prediction>(`/predictions/${id}/review`, { output }),
  submit: (id: number, ids?: number[]) => api.post<{ submitted: number }>(`/deployments/${id}/submit`, ids ? { ids } : {}),
};

export interface DeploymentBody {
  name?: string;
  description?: string;
  mode?: 'serve' | 'monitor';
  champion_version_id?: number;
  shadow_version_id?: number | null;
  datalake_id?: number;
  sample_rate?: number;
  min_score?: number;
}

export const ALERT_METRICS = ['latency_p99', 'latency_p95', 'error_rate', 'count', 'score_mean', 'outlier_rate', 'out_of_range_rate', 'feature_drift'];

export const deployWrite = {
  create: (body: DeploymentBody) => api.post<Deployment>('/deployments', body),
  update: (id: number, body: DeploymentBody) => api.patch<Deployment>(`/deployments/${id}`, body),
  addAlert: (id: number, body: { name: string; metric: string; op: string; threshold: number; window_minutes: number }) => api.post<unknown>(`/deployments/${id}/alerts`, body),
};

/** A deployment's pipeline (GET/PUT .../pipeline, docs/operations.md). */
export interface Pipeline {
  deployment_id: number;
  datasets: Record<string, number>;
  feedback_version_id: number;
  feedback_tags: string[];
  project_id: number | null;
  params: Record<string, unknown>;
  reviews_to_train: number;
  policy: 'champion' | 'shadow' | 'manual';
  metric: 'accuracy' | 'macro_f1';
  margin: number;
  pending_reviews: number;
  fed_back: number;
  skipped: number;
  note: string | null;
  updated_at: number;
}

export interface PipelineBody {
  datasets: Record<string, number>;
  feedback_version_id?: number;
  feedback_tags?: string[];
  project_id?: number;
  params?: Record<string, unknown>;
  reviews_to_train?: number;
  policy?: string;
  metric?: string;
  margin?: number;
}

export interface PipelineRun {
  id: number;
  state: string;
  reviews: number;
  experiment_id: number | null;
  job_id: number | null;
  base_version_id: number | null;
  version_id: number | null;
  policy: string;
  metric: string;
  candidate_value: number | null;
  champion_value: number | null;
  test_images: number | null;
  reason: string | null;
  created_at: number;
  updated_at: number;
}

export interface KsStat {
  ks: number | null;
  p_value: number | null;
  reference_mean?: number | null;
  production_mean?: number | null;
  production_n?: number;
}

export interface Drift {
  deployment_id: number;
  reference: { dataset_version_id: number; model_version_id: number; images: number; built_at: number };
  window: { from: number; to: number | null; predictions: number };
  features: Record<string, KsStat>;
  labels: { items: { label: string; reference: number | null; production: number | null }[]; ks: number | null; p_value: number | null };
  outliers: { available: boolean; reason?: string; percentile: number; scored: number; outliers: number; rate: number; without_image: number; not_yet_scored: number; out_of_range: number };
}

export interface Score {
  n: number;
  accuracy: number | null;
  macro_precision: number | null;
  macro_recall: number | null;
  macro_f1: number | null;
  per_class: { label: string; support: number; precision: number | null; recall: number | null }[];
}

export interface Supervised {
  deployment_id: number;
  reviews: number;
  reviews_without_class: number;
  champion: Score;
  shadow: Score;
}

export const pipelineApi = {
  get: (id: number, signal?: AbortSignal) => api.get<Pipeline>(`/deployments/${id}/pipeline`, undefined, signal),
  set: (id: number, body: PipelineBody) => api.put<Pipeline>(`/deployments/${id}/pipeline`, body),
  remove: (id: number) => api.del<unknown>(`/deployments/${id}/pipeline`),
  runs: (id: number, signal?: AbortSignal) => api.get<{ items: PipelineRun[] }>(`/deployments/${id}/pipeline/runs`, undefined, signal).then((r) => r.items),
  train: (id: number) => api.post<{ pipeline_run_id: number; job_id: number }>(`/deployments/${id}/pipeline/runs`),
  drift: (id: number, signal?: AbortSignal) => api.get<Drift>(`/deployments/${id}/drift`, undefined, signal),
  supervised: (id: number, signal?: AbortSignal) => api.get<Supervised>(`/deployments/${id}/supervised`, undefined, signal),
};
