/*
 * registry.ts - the model registry's documents and calls (docs/operations.md):
 * models, their numbered versions (files, labels, parameters, lineage) and
 * aliases with their log.
 */
import { api, API, withQuery } from './api';

export interface Model {
  id: number;
  name: string;
  description: string | null;
  task_type: string | null;
  tags: string[] | null;
  created_at: string;
  versions: number;
  latest_version: number | null;
  /** alias -> version number */
  aliases: Record<string, number>;
}

export interface ModelFile {
  path: string;
  sha256: string;
  size: number;
}

export interface Lineage {
  experiment_id?: number;
  experiment?: string;
  project_id?: number;
  params?: Record<string, unknown>;
  /** alias in the experiment (train, val...) -> dataset version id */
  datasets?: Record<string, number>;
}

export interface ModelVersion {
  id: number;
  model_id: number;
  model: string;
  version: number;
  framework: string;
  labels: string[] | null;
  params: Record<string, unknown> | null;
  description: string | null;
  status: string;
  status_reason: string | null;
  source_experiment_id: number | null;
  lineage: Lineage | null;
  created_at: string;
  files: ModelFile[];
  aliases: string[];
}

export interface AliasMove {
  alias: string;
  from_version: number | null;
  to_version: number | null;
  by_user: number;
  at: string;
}

export const registry = {
  models: (q: string, signal?: AbortSignal) => api.get<{ items: Model[] }>('/models', { q }, signal).then((r) => r.items),
  model: (id: number | string, signal?: AbortSignal) => api.get<Model>(`/models/${id}`, undefined, signal),
  createModel: (body: { name: string; description?: string; task_type?: string }) => api.post<Model>('/models', body),
  versions: (id: number | string, signal?: AbortSignal) =>
    api.get<{ items: ModelVersion[] }>(`/models/${id}/versions`, undefined, signal).then((r) => r.items),
  version: (id: number | string, signal?: AbortSignal) => api.get<ModelVersion>(`/model-versions/${id}`, undefined, signal),
  setAlias: (model: number, alias: string, version: number) => api.put<Model>(`/models/${model}/aliases/${encodeURIComponent(alias)}`, { version }),
  deleteAlias: (model: number, alias: string) => api.del<Model>(`/models/${model}/aliases/${encodeURIComponent(alias)}`),
  aliasLog: (id: number | string, signal?: AbortSignal) =>
    api.get<{ items: AliasMove[] }>(`/models/${id}/alias-log`, undefined, signal).then((r) => r.items),
  updateVersion: (id: number, body: { status?: string; status_reason?: string; description?: string }) =>
    api.patch<ModelVersion>(`/model-versions/${id}`, body),
};

/** Download link of one file of a version (served with Content-Disposition by the API). */
export function modelFileUrl(versionId: number, path: string): string {
  return withQuery(`${API}/model-versions/${versionId}/file`, { path });
}

/** Every model's versions as choices ("name vN"), newest model first as the API lists them. */
export async function allVersionChoices(signal?: AbortSignal): Promise<{ id: number; label: string }[]> {
  const ms = await registry.models('', signal);
  const per = await Promise.all(ms.map((m) => registry.versions(m.id, signal).then((vs) => vs.map((v) => ({ id: v.id, label: `${m.name} v${v.version}${v.aliases.length ? ` (${v.aliases.join(', ')})` : ''}` })))));
  return per.flat();
}
