/*
 * tracking.ts - experiment tracking's documents (projects, experiments,
 * metric views, logs, output, artifacts) as the API returns them, and the
 * small helpers the Projects pages share. See docs/tracking.md.
 */
import { api, type Page } from './api';

export type ExpStatus = 'created' | 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
export const EXP_STATUSES: ExpStatus[] = ['created', 'queued', 'running', 'succeeded', 'failed', 'canceled'];

export interface Project {
  id: number;
  name: string;
  description: string;
  created_by: number | null;
  created_at: string;
  updated_at: string;
  experiments: number;
  members?: { id: number; username: string; display_name: string | null; added_at: string }[];
}

export interface ProjectKeys {
  params: string[];
  metrics: string[];
  tags: string[];
  experiments: number;
  scanned: number;
  truncated: boolean;
}

export type ParamValue = string | number | boolean | null | ParamValue[] | { [k: string]: ParamValue };

interface ExperimentBase {
  id: number;
  project_id: number;
  name: string;
  description: string;
  status: ExpStatus;
  tags: string[];
  command: string | null;
  host: string | null;
  created_by: number | null;
  created_at: string;
  updated_at: string;
  queued_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  base_model_version_id: number | null;
  output_lines: number;
}

/** A row of the experiment table (GET /projects/{id}/experiments). */
export interface ExperimentRow extends ExperimentBase {
  /** Only the parameters asked for with ?params= (absent without it). */
  params?: Record<string, ParamValue>;
  metrics?: Record<string, { last: number; step: number; min: number; max: number }>;
}

export interface MetricInfo {
  name: string;
  count: number;
  first_step: number;
  last_step: number;
  min: number;
  max: number;
  last: number;
  last_time: number;
  max_step: number;
}

/** GET /experiments/{id}. */
export interface Experiment extends ExperimentBase {
  params: Record<string, ParamValue>;
  datasets: Record<string, number>;
  metrics: MetricInfo[];
}

/** A training run on the platform's trainer (GET /experiments/{id}/training). */
export interface TrainingRun {
  id: number;
  state: ExpStatus;
  epoch: number;
  epochs: number;
  step: number;
  steps_total: number;
  val_acc: number | null;
  best_val_acc: number | null;
  eval_split: string | null;
  eval_accuracy: number | null;
  message: string | null;
  /** the resolved launch parameters (src/training/config.c) */
  config?: { task?: string; architecture?: unknown } | null;
}

export interface TrainingView {
  experiment_id: number;
  runs: TrainingRun[];
  current: TrainingRun | null;
}

/** GET /experiments/{id}/points. */
export interface SeriesView {
  name: string;
  total: number;
  downsampled: boolean;
  method: string;
  steps: number[];
  values: number[];
  times: number[];
  next_from: number | null;
}

export type LogKind = 'value' | 'bar' | 'table' | 'heatmap' | 'confusion_matrix' | 'image' | 'label_map';

export interface LogName {
  name: string;
  kind: LogKind;
  count: number;
  first_step: number | null;
  last_step: number | null;
}

export interface LogRecord<D = unknown> {
  id: number;
  name: string;
  kind: LogKind;
  step: number | null;
  data?: D;
  created_at: string;
}

export interface OutputLine {
  seq: number;
  at: string;
  line: string;
}

export interface OutputPage {
  items: OutputLine[];
  next_after: number;
  finished: boolean;
}

export interface Artifact {
  path: string;
  sha256: string;
  size: number;
  created_at: string;
}

export function expActive(status: ExpStatus): boolean {
  return status === 'running' || status === 'queued';
}

/** A metric value as people read it: up to 6 significant digits. */
export function formatValue(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return v.toExponential(3);
  return String(Number(v.toPrecision(6)));
}

/** A parameter value as text (strings as they are, the rest as JSON). */
export function paramText(v: ParamValue | undefined): string {
  if (v === undefined) return '—';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return formatValue(v);
  return JSON.stringify(v);
}

/** Loads every page of a keyset list, up to `max` items. */
export async function loadAll<T>(
  path: string,
  query: Record<string, string | number | undefined>,
  max: number,
  signal?: AbortSignal,
): Promise<{ items: T[]; complete: boolean }> {
  const items: T[] = [];
  let cursor: string | number | null = null;
  for (;;) {
    const page: Page<T> = await api.list<T>(path, { ...query, cursor: cursor ?? undefined }, signal);
    items.push(...page.items);
    cursor = page.next_cursor;
    if (cursor === null || cursor === undefined) return { items, complete: true };
    if (items.length >= max) return { items, complete: false };
  }
}

/** Colours for series, distinct on light and dark backgrounds. */
export const PALETTE = ['#2f6fdb', '#e8590c', '#2b9348', '#c2255c', '#7048e8', '#0c8599', '#b08900', '#5f3dc4', '#d9480f', '#495057'];

export function colorOf(i: number): string {
  return PALETTE[i % PALETTE.length];
}

/** The experiment page's URL. */
export function expHref(e: { id: number; project_id: number }, tab?: string): string {
  return `/projects/${e.project_id}/experiments/${e.id}${tab ? '/' + tab : ''}`;
}
