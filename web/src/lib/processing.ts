/*
 * processing.ts - processings (docs/processings.md): the catalog with each
 * definition's parameter schema, launching a run on a target, and runs.
 *
 * The parameter form is generated from the schema: formDefaults() gives the
 * text of each field, checkParams() checks and converts what was typed
 * (types, bounds, lengths, required, JSON objects) with a message per field,
 * as the API would refuse it, so a mistake is shown before a round trip; the
 * API still checks everything and its message lands under the field it names.
 */
import { api } from './api';
import type { JobState } from './types';

export type TargetKind = 'datalake' | 'dataset-version' | 'model-version' | 'experiment';
export const TARGET_LABEL: Record<TargetKind, string> = {
  datalake: 'Datalake',
  'dataset-version': 'Dataset version',
  'model-version': 'Model version',
  experiment: 'Experiment',
};

export type ParamType = 'integer' | 'number' | 'boolean' | 'string' | 'enum' | 'string_list' | 'object';

export interface ParamSpec {
  name: string;
  type: ParamType;
  default?: unknown;
  description?: string;
  required?: boolean;
  min?: number;
  max?: number;
  max_length?: number;
  values?: string[];
}

export interface Resources {
  threads?: number;
  memory_mb?: number;
  timeout_s?: number;
  output_mb?: number;
  kill_grace_s?: number;
}

export interface Processing {
  name: string;
  version: number;
  builtin: boolean;
  kind: 'builtin' | 'custom';
  target: TargetKind;
  targets: TargetKind[];
  description: string | null;
  parameters: ParamSpec[];
  resources: Resources;
  outputs?: string[];
  requires?: string[] | null;
}

export interface Run {
  id: number;
  job_id: number;
  processing: { name: string; version: number; builtin: boolean };
  on: { kind: TargetKind; id: number };
  input: Record<string, unknown> & { kind: TargetKind; id: number; name?: string; dataset_id?: number; model_id?: number; version?: number; model?: string; dataset?: string; project_id?: number };
  params: Record<string, unknown>;
  resources: Resources;
  query: string | null;
  created_at: string;
  state: JobState;
  progress: number;
  message: string | null;
  error: string | null;
  result: (Record<string, unknown> & { outputs?: RunOutput[]; last_lines?: string[] }) | null;
  started_at: string | null;
  finished_at: string | null;
  worker: string | null;
  outputs: unknown[];
}

export interface RunOutput {
  type: string;
  on?: string;
  id?: number;
  tag?: string;
  tagged?: number;
  [k: string]: unknown;
}

export interface LaunchBody {
  on: string;
  params: Record<string, unknown>;
  query?: string;
  resources?: Resources;
}

export const processings = {
  list: (signal?: AbortSignal) => api.get<{ items: Processing[] }>('/processings', undefined, signal).then((r) => r.items),
  run: (name: string, body: LaunchBody) => api.post<Run>(`/processings/${encodeURIComponent(name)}/run`, body),
  runs: (processing: string | undefined, cursor: string | number | null, signal?: AbortSignal) =>
    api.list<Run>('/processing-runs', { processing, cursor, limit: 50 }, signal),
  get: (id: number, signal?: AbortSignal) => api.get<Run>(`/processing-runs/${id}`, undefined, signal),
  cancel: (id: number) => api.post<unknown>(`/jobs/${id}/cancel`),
};

/** The text each field starts with: the default, as typed. */
export function formDefaults(params: ParamSpec[]): Record<string, string> {
  const v: Record<string, string> = {};
  for (const p of params) {
    const d = p.default;
    if (d === undefined || d === null) v[p.name] = p.type === 'boolean' ? 'false' : '';
    else if (p.type === 'object') v[p.name] = JSON.stringify(d);
    else if (p.type === 'string_list' && Array.isArray(d)) v[p.name] = d.join(', ');
    else v[p.name] = String(d);
  }
  return v;
}

/** Bounds as people read them: "1 to 20", "at least 0", "up to 128 characters". */
export function boundsText(p: ParamSpec): string | null {
  if (p.type === 'integer' || p.type === 'number') {
    const big = (x: number) => Math.abs(x) >= 1e15;
    const lo = p.min !== undefined && !big(p.min) ? p.min : undefined;
    const hi = p.max !== undefined && !big(p.max) ? p.max : undefined;
    if (lo !== undefined && hi !== undefined) return `${lo} to ${hi}`;
    if (lo !== undefined) return `at least ${lo}`;
    if (hi !== undefined) return `at most ${hi}`;
    return null;
  }
  if ((p.type === 'string' || p.type === 'string_list') && p.max_length) return `up to ${p.max_length} characters`;
  return null;
}

/**
 * Checks the typed values against the schema and converts them. Empty
 * optional fields are left out (the processing's default applies).
 */
export function checkParams(specs: ParamSpec[], text: Record<string, string>): { params: Record<string, unknown>; errors: Record<string, string> } {
  const params: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const p of specs) {
    const raw = (text[p.name] ?? '').trim();
    if (p.type === 'boolean') {
      params[p.name] = raw === 'true';
      continue;
    }
    if (raw === '') {
      if (p.required) errors[p.name] = `${p.name} is required.`;
      continue;
    }
    switch (p.type) {
      case 'integer':
      case 'number': {
        const n = Number(raw);
        if (!Number.isFinite(n)) {
          errors[p.name] = `${p.name} must be a number, got '${raw}'.`;
          break;
        }
        if (p.type === 'integer' && !Number.isInteger(n)) {
          errors[p.name] = `${p.name} must be a whole number, got '${raw}'.`;
          break;
        }
        if ((p.min !== undefined && n < p.min) || (p.max !== undefined && n > p.max)) {
          errors[p.name] = `${p.name} must be ${boundsText(p) ?? 'within its bounds'}, got ${raw}.`;
          break;
        }
        params[p.name] = n;
        break;
      }
      case 'enum':
        if (p.values && !p.values.includes(raw)) errors[p.name] = `${p.name} must be one of ${p.values.join(', ')}.`;
        else params[p.name] = raw;
        break;
      case 'string':
        if (p.max_length && raw.length > p.max_length) errors[p.name] = `${p.name} is ${raw.length} characters long; at most ${p.max_length}.`;
        else params[p.name] = raw;
        break;
      case 'string_list':
        params[p.name] = raw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        break;
      case 'object': {
        try {
          const o = JSON.parse(raw);
          if (o === null || typeof o !== 'object' || Array.isArray(o)) errors[p.name] = `${p.name} must be a JSON object such as {"key": 1}.`;
          else params[p.name] = o;
        } catch (e) {
          errors[p.name] = `${p.name} is not valid JSON: ${(e as Error).message}`;
        }
        break;
      }
    }
  }
  return { params, errors };
}

/**
 * The catalog, ready to launch on a target with a selection: explicit ids
 * become `id in (...)`, "all matching" (or nothing picked) the current query.
 */
export function processHref(on: string, sel: { all: true } | { all: false; ids: ReadonlySet<number> }, q: string): string {
  const query = !sel.all && sel.ids.size ? `id in (${[...sel.ids].join(', ')})` : q;
  const p = new URLSearchParams({ on });
  if (query) p.set('query', query);
  return `/processings?${p.toString()}`;
}
