/*
 * deploy.ts - deployments, their monitoring rollups, alerts and predictions
 * with their review (docs/operations.md).
 */
import { api } from './api';

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
}

export interface PredFilter {
  status?: string;
  label?: string;
  min_score?: string;
  max_score?: string;
  from?: number;
  to?: number;
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

export const ALERT_METRICS = ['latency_p99', 'latency_p95', 'error_rate', 'count', 'score_mean'];

export const deployWrite = {
  create: (body: DeploymentBody) => api.post<Deployment>('/deployments', body),
  update: (id: number, body: DeploymentBody) => api.patch<Deployment>(`/deployments/${id}`, body),
  addAlert: (id: number, body: { name: string; metric: string; op: string; threshold: number; window_minutes: number }) => api.post<unknown>(`/deployments/${id}/alerts`, body),
};
