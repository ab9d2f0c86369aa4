/*
 * datasets.ts - the datasets API (docs/datasets.md) as the pages use it:
 * the documents' types and one function per call.
 *
 * Geometry is in pixels of the displayed image (EXIF orientation applied),
 * the same space as the datalake's width and height, so a shape can be
 * drawn over the thumbnail by scaling alone.
 */
import { api, uploadBody, type Page } from './api';
import type { Completion, Job } from './types';

export type Task = 'classification' | 'detection' | 'segmentation' | 'keypoints' | 'multi';
export const TASKS: Task[] = ['detection', 'segmentation', 'classification', 'keypoints', 'multi'];

export type Status = 'pending' | 'accepted' | 'rejected' | 'skipped';
export const STATUSES: Status[] = ['pending', 'accepted', 'rejected', 'skipped'];

export interface Dataset {
  id: number;
  name: string;
  description: string | null;
  datalake_id: number;
  datalake: string;
  created_at: string;
  created_by: number | null;
  versions: number;
}

export interface Version {
  id: number;
  dataset_id: number;
  dataset: string;
  name: string;
  description: string | null;
  task: Task;
  parent_id: number | null;
  locked: boolean;
  locked_by: string | null;
  locked_at: string | null;
  created_by: number | null;
  created_at: string;
  assets: number;
  annotated: number;
  labels: number;
  shapes: number;
}

export interface Label {
  id: number;
  version_id: number;
  name: string;
  color: string;
  group: string | null;
  /** Keypoint labels: the vertex names, in order. */
  keypoints: string[] | null;
  /** 1-based pairs of vertices, as COCO writes them. */
  skeleton: [number, number][] | null;
  objects: number;
  images: number;
}

export type ShapeKind = 'class' | 'box' | 'polygon' | 'polyline' | 'point' | 'keypoints' | 'mask';

/** A shape as the API answers it (and, without id/bbox/label_id, as it takes it). */
export interface ApiShape {
  id?: number;
  kind: ShapeKind;
  label: string;
  label_id?: number;
  box?: [number, number, number, number];
  points?: number[];
  rings?: number[][];
  point?: [number, number];
  keypoints?: number[];
  rle?: { size: [number, number]; counts: number[] | string };
  bbox?: [number, number, number, number];
  score?: number | null;
  text?: string | null;
  attributes?: Record<string, unknown> | null;
  iscrowd?: boolean | number;
  area?: number | null;
}

export interface AnnotationSummary {
  status: Status;
  revision: number;
  objects: number;
  author: string | null;
  updated_at: string;
  duration_ms: number;
}

export interface Asset {
  id: number;
  version_id: number;
  data_id: number;
  filename: string;
  width: number;
  height: number;
  format: string;
  sha256: string;
  tags: string[];
  added_at: string;
  annotation: AnnotationSummary | null;
  /** With ?shapes=1 (listings) and always on GET /assets/{id}. */
  shapes?: ApiShape[];
}

export interface Annotation {
  asset_id: number;
  version_id: number;
  revision: number;
  status: Status;
  author_id: number | null;
  author: string | null;
  duration_ms: number;
  created_at?: string;
  updated_at?: string;
  objects?: number;
  shapes: ApiShape[];
}

export interface NameCount {
  name: string;
  count: number;
}

export interface LabelCount {
  name: string;
  objects: number;
  images: number;
}

export interface Bucket {
  bucket: string;
  count: number;
}

export interface VersionStats {
  version_id: number;
  assets: number;
  annotated: number;
  objects: number;
  status: Record<Status | 'none', number>;
  labels: LabelCount[];
  tags: NameCount[];
  splits: { name: string; labels: LabelCount[] }[];
  kinds: Partial<Record<ShapeKind, number>>;
  box_sizes: Bucket[];
  box_aspects: Bucket[];
  coco_sizes: Bucket[];
}

export interface SplitAnswer {
  version_id: number;
  seed: number;
  assets: number;
  labels: Record<string, number>;
  splits: { name: string; ratio: number; assets: number; fraction: number; labels: Record<string, number> }[];
}

/** A version that uses a datalake item (GET /data/{id}/dataset-versions). */
export interface VersionUse {
  dataset_id: number;
  dataset: string;
  version_id: number;
  version: string;
  locked: boolean;
  asset_id: number;
  status: Status | null;
  objects: number;
}

export type ExportFormat = 'coco' | 'yolo' | 'voc' | 'folder' | 'csv';
export const FORMATS: { value: ExportFormat; label: string; note: string }[] = [
  { value: 'coco', label: 'COCO', note: 'one JSON file: boxes, polygons, masks, keypoints' },
  { value: 'yolo', label: 'YOLO (Ultralytics)', note: 'data.yaml and a label file per image: boxes, polygons, keypoints' },
  { value: 'voc', label: 'Pascal VOC', note: 'an XML file per image: boxes' },
  { value: 'folder', label: 'Class folders', note: 'a folder per class: image classification' },
  { value: 'csv', label: 'CSV', note: 'file name and class per row: image classification' },
];

export interface ExportResult {
  file: string;
  size: number;
  filename: string;
  format: string;
  images: number;
  shapes: number;
  with_images: boolean;
}

export interface ImportProblem {
  where: string;
  message: string;
  warning?: boolean;
}

/** Either `data_ids` or a datalake query `q` ("" adds every item). */
export type AddSelector = { data_ids: number[] } | { q: string };
/** Either asset `ids` or an asset query `q`. */
export type AssetSelector = { ids: number[] } | { q: string };

export const datasets = {
  list: (signal?: AbortSignal) => api.get<{ items: Dataset[] }>('/datasets', undefined, signal).then((r) => r.items),
  get: (id: number, signal?: AbortSignal) => api.get<Dataset>(`/datasets/${id}`, undefined, signal),
  create: (body: { name: string; description?: string; datalake_id?: number }) => api.post<Dataset>('/datasets', body),
  update: (id: number, body: { name?: string; description?: string }) => api.patch<Dataset>(`/datasets/${id}`, body),
  remove: (id: number) => api.del<{ deleted: number }>(`/datasets/${id}`),
  versions: (id: number, signal?: AbortSignal) => api.get<{ items: Version[] }>(`/datasets/${id}/versions`, undefined, signal).then((r) => r.items),
  createVersion: (id: number, body: { name: string; description?: string; task?: Task }) => api.post<Version>(`/datasets/${id}/versions`, body),
};

export const versions = {
  get: (id: number, signal?: AbortSignal) => api.get<Version>(`/dataset-versions/${id}`, undefined, signal),
  update: (id: number, body: { name?: string; description?: string; task?: Task }) => api.patch<Version>(`/dataset-versions/${id}`, body),
  remove: (id: number) => api.del<{ deleted: number }>(`/dataset-versions/${id}`),
  fork: (id: number, body: { name: string; description?: string; labels?: boolean; annotations?: boolean; tags?: boolean; q?: string }) =>
    api.post<Version>(`/dataset-versions/${id}/fork`, body),
  lock: (id: number) => api.post<Version>(`/dataset-versions/${id}/lock`),
  unlock: (id: number) => api.del<Version>(`/dataset-versions/${id}/lock`),
  assets: (id: number, q: string, orderBy: string, cursor: string | number | null, limit: number, signal?: AbortSignal) =>
    api.list<Asset>(`/dataset-versions/${id}/assets`, { q, order_by: orderBy, cursor, limit, shapes: 1 }, signal),
  count: (id: number, q: string, signal?: AbortSignal) =>
    api.get<{ count: number }>(`/dataset-versions/${id}/assets/count`, { q }, signal).then((r) => r.count),
  addAssets: (id: number, sel: AddSelector) => api.post<{ added: number; already_there: number }>(`/dataset-versions/${id}/assets`, sel),
  removeAssets: (id: number, sel: AssetSelector) => api.post<{ removed: number }>(`/dataset-versions/${id}/assets/delete`, sel),
  tag: (id: number, sel: AssetSelector, add: string[], remove: string[]) =>
    api.post<{ changed: number }>(`/dataset-versions/${id}/tags`, { ...sel, add, remove }),
  tags: (id: number, signal?: AbortSignal) => api.get<{ items: NameCount[] }>(`/dataset-versions/${id}/tags`, undefined, signal).then((r) => r.items),
  labels: (id: number, signal?: AbortSignal) => api.get<{ items: Label[] }>(`/dataset-versions/${id}/labels`, undefined, signal).then((r) => r.items),
  createLabel: (id: number, body: { name: string; color?: string; group?: string; keypoints?: string[]; skeleton?: [number, number][] }) =>
    api.post<Label>(`/dataset-versions/${id}/labels`, body),
  split: (id: number, body: { ratios: Record<string, number>; seed: number; q?: string }) => api.post<SplitAnswer>(`/dataset-versions/${id}/split`, body),
  stats: (id: number, signal?: AbortSignal) => api.get<VersionStats>(`/dataset-versions/${id}/stats`, undefined, signal),
  autocomplete: (id: number, q: string, cursorBytes: number, signal?: AbortSignal) =>
    api.get<Completion>(`/dataset-versions/${id}/autocomplete`, { q: q || undefined, cursor: cursorBytes }, signal),
  import: (id: number, body: { file: string; format: string; mode?: string; skip_invalid?: boolean; status?: string }) =>
    api.post<Job>(`/dataset-versions/${id}/import`, body),
  export: (id: number, body: { format: ExportFormat; images?: boolean; archive?: string; q?: string }) => api.post<Job>(`/dataset-versions/${id}/export`, body),
};

export const labelsApi = {
  update: (id: number, body: { name?: string; color?: string; group?: string | null; keypoints?: string[]; skeleton?: [number, number][] }) =>
    api.patch<Label>(`/labels/${id}`, body),
  remove: (id: number) => api.del<{ deleted: number }>(`/labels/${id}`),
};

export const assets = {
  get: (id: number, signal?: AbortSignal) => api.get<Asset>(`/assets/${id}`, undefined, signal),
  annotation: (id: number, signal?: AbortSignal) => api.get<Annotation>(`/assets/${id}/annotation`, undefined, signal),
  save: (id: number, body: { shapes: ApiShape[]; status?: Status; duration_ms?: number; base_revision: number }) =>
    api.put<Annotation>(`/assets/${id}/annotation`, body),
  revisions: (id: number, signal?: AbortSignal) => api.get<{ items: Annotation[] }>(`/assets/${id}/annotation/revisions`, undefined, signal).then((r) => r.items),
};

/** The dataset versions holding a datalake item. */
export function versionsUsing(dataId: number, signal?: AbortSignal) {
  return api.get<Page<VersionUse>>(`/data/${dataId}/dataset-versions`, undefined, signal).then((r) => r.items);
}

/** Uploads a file (PUT /files, raw body; the answer names it by its SHA-256). */
export function uploadFile(file: Blob, onProgress?: (sent: number) => void) {
  return uploadBody<{ sha256: string; size: number; existed: boolean }>('/files', {}, file, onProgress, 'PUT');
}

export const versionUrl = (v: Pick<Version, 'id' | 'dataset_id'>) => `/datasets/${v.dataset_id}/versions/${v.id}`;
export const annotateUrl = (datasetId: number, versionId: number, assetId: number) => `/datasets/${datasetId}/versions/${versionId}/annotate/${assetId}`;

/** How many of `n` as "12 images" with the right plural. */
export function plural(n: number, one: string, many = one + 's'): string {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}
