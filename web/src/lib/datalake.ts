/*
 * datalake.ts - the datalake's API calls as the pages use them, and the
 * small text helpers the search bar needs.
 *
 * The API counts positions in a query two ways: autocomplete's cursor and
 * replace_from/replace_to are UTF-8 byte offsets, error messages give
 * 1-based character columns. JavaScript strings index UTF-16 code units, so
 * both are converted here (a query with an emoji or an accented tag then
 * still marks and replaces the right characters).
 */
import { api, type Page } from './api';
import type { Camera, Completion, Datalake, DataDetail, DataItem, SimilarItem, TagCount } from './types';

export const ORDERS = [
  { value: '-created', label: 'Newest first' },
  { value: 'created', label: 'Oldest first' },
  { value: 'filename', label: 'File name A–Z' },
  { value: '-filename', label: 'File name Z–A' },
  { value: '-size', label: 'Largest file first' },
  { value: 'size', label: 'Smallest file first' },
  { value: '-width', label: 'Widest first' },
  { value: '-height', label: 'Tallest first' },
];

export const lakes = {
  list: (signal?: AbortSignal) => api.get<{ items: Datalake[] }>('/datalakes', undefined, signal).then((r) => r.items),
  create: (name: string, description: string) => api.post<Datalake>('/datalakes', { name, description: description || undefined }),
  search: (lake: number, q: string, orderBy: string, cursor: string | number | null, limit: number, signal?: AbortSignal) =>
    api.list<DataItem>(`/datalakes/${lake}/data`, { q, order_by: orderBy, cursor, limit }, signal),
  count: (lake: number, q: string, signal?: AbortSignal) =>
    api.get<{ count: number }>(`/datalakes/${lake}/data/count`, { q }, signal).then((r) => r.count),
  autocomplete: (lake: number, q: string, cursorBytes: number, signal?: AbortSignal) =>
    api.get<Completion>(`/datalakes/${lake}/autocomplete`, { q: q || undefined, cursor: cursorBytes }, signal),
  tags: (lake: number, signal?: AbortSignal) => api.get<{ items: TagCount[] }>(`/datalakes/${lake}/tags`, undefined, signal).then((r) => r.items),
  /** Adds and removes tags on a selection: explicit ids, or every item matching q. */
  tag: (lake: number, sel: Selector, add: string[], remove: string[]) =>
    api.post<{ changed: number }>(`/datalakes/${lake}/tags`, { ...sel, add, remove }),
  remove: (lake: number, sel: Selector) => api.post<{ deleted: number }>(`/datalakes/${lake}/data/delete`, sel),
};

export const items = {
  get: (id: number, signal?: AbortSignal) => api.get<DataDetail>(`/data/${id}`, undefined, signal),
  patch: (id: number, body: { filename?: string; source?: string; meta?: Record<string, unknown> }) => api.patch<DataDetail>(`/data/${id}`, body),
  remove: (id: number) => api.del<{ deleted: number }>(`/data/${id}`),
  similar: (id: number, maxDistance: number, signal?: AbortSignal) =>
    api.get<Page<SimilarItem>>(`/data/${id}/similar`, { max_distance: maxDistance, limit: 48 }, signal).then((r) => r.items),
};

/** What a bulk request acts on: `{ids}` or `{q}` (never neither: the API refuses that). */
export type Selector = { ids: number[] } | { q: string };

/** UTF-8 length of s[0..index) (index in UTF-16 code units). */
export function utf8Offset(s: string, index: number): number {
  return new TextEncoder().encode(s.slice(0, index)).length;
}

/** The UTF-16 index of UTF-8 byte offset `bytes` in s. */
export function indexOfUtf8(s: string, bytes: number): number {
  let b = 0;
  let i = 0;
  while (i < s.length && b < bytes) {
    const c = s.codePointAt(i)!;
    b += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    i += c > 0xffff ? 2 : 1;
  }
  return i;
}

/** The UTF-16 index of 1-based character column `col` (the API's columns count code points). */
export function indexOfColumn(s: string, col: number): number {
  let i = 0;
  for (let c = 1; c < col && i < s.length; c++) i += s.codePointAt(i)! > 0xffff ? 2 : 1;
  return i;
}

/** A span of the query an error points at: [start, end) in UTF-16 indices; start == end past the end. */
export interface Mark {
  start: number;
  end: number;
}

/**
 * The spans an API query error names ("... at column 10 ...", "starting at
 * column 3"): from each column to the end of the token there (a word, a
 * quoted string, or one character).
 */
export function errorMarks(q: string, message: string): Mark[] {
  const out: Mark[] = [];
  for (const m of message.matchAll(/column (\d+)/g)) {
    const start = indexOfColumn(q, Number(m[1]));
    let end = start;
    if (start < q.length) {
      const rest = q.slice(start);
      const tok = /^(?:"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|[\p{L}\p{N}_.-]+|[<>=!~]+|.)/u.exec(rest);
      end = start + (tok ? tok[0].length : 1);
    }
    if (!out.some((x) => x.start === start)) out.push({ start, end });
  }
  return out;
}

/** Whether a query mentions tags (then changing tags can change what it matches). */
export function queryUsesTags(q: string): boolean {
  return /(^|[^\p{L}\p{N}_."])tag\b/iu.test(q);
}

/** Tag names from "a, b  c": commas or spaces between, quotes not needed. */
export function parseTags(s: string): string[] {
  return [...new Set(s.split(/[,\n]/).map((t) => t.trim()).filter(Boolean))];
}

/** A query value: a bare word when the grammar allows it, else a quoted string. */
export function quoteValue(v: string): string {
  if (/^[\p{L}_][\p{L}\p{N}_-]*$/u.test(v) && !/^(and|or|not|in|like|exists|true|false|null)$/i.test(v)) return v;
  return '"' + v.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

/** "Canon PowerShot S95" from make "Canon" and model "Canon PowerShot S95"; null when unknown. */
export function cameraName(c: Camera | null | undefined): string | null {
  if (!c || (!c.make && !c.model)) return null;
  if (c.make && c.model && c.model.toLowerCase().startsWith(c.make.toLowerCase())) return c.model;
  return [c.make, c.model].filter(Boolean).join(' ');
}
