/*
 * api.ts - the one way the UI talks to cvops: fetch() on /api/v1, nothing else.
 *
 * Everything the UI does goes through the public REST API, so a script can do
 * it too. This module adds what every call needs and nothing more:
 *   - JSON bodies and `Content-Type: application/json`;
 *   - the session's CSRF token on every write (`X-CSRF-Token`), as the API
 *     requires for cookie sessions;
 *   - errors as `ApiError`, whose message is the API's own words
 *     (`{"error": {"code", "message"}}`), so the UI shows them verbatim;
 *   - one hook for "the session is gone" (401 on anything but login), which
 *     the session module turns into the login screen.
 *
 * Lists use keyset pagination (`?limit=&cursor=` -> `{items, next_cursor}`);
 * `Page<T>` is their type and components/KeysetTable consumes it.
 *
 * uploadBody() sends a file as a raw request body with XMLHttpRequest, the
 * one browser API that reports upload progress (fetch does not, short of
 * streaming request bodies over HTTP/2).
 */

export const API = '/api/v1';

export class ApiError extends Error {
  status: number;
  code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

export interface Page<T> {
  items: T[];
  next_cursor: number | string | null;
}

type Query = Record<string, string | number | boolean | null | undefined | string[]>;

let csrfToken: string | null = null;
let onUnauthenticated: ((err: ApiError) => void) | null = null;

/** The session module sets the CSRF token from login and GET /me. */
export function setCsrfToken(token: string | null) {
  csrfToken = token;
}

/** Called when an authenticated request answers 401 (the session ended). */
export function setUnauthenticatedHandler(fn: ((err: ApiError) => void) | null) {
  onUnauthenticated = fn;
}

/** Builds `path?k=v&...`, leaving out empty values; an array repeats its key. */
export function withQuery(path: string, q?: Query): string {
  if (!q) return path;
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) for (const x of v) p.append(k, x);
    else p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `${path}?${s}` : path;
}

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
  /** Do not treat a 401 as "session ended" (login, the first GET /me). */
  quiet401?: boolean;
}

export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  let body: BodyInit | undefined;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(withQuery(API + path, opts.query), {
      method,
      headers,
      body,
      signal: opts.signal,
      credentials: 'same-origin',
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'Could not reach the cvops server. Check that it is running and try again.');
  }
  const text = await res.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const e = (data as { error?: { code?: string; message?: string } } | null)?.error;
    const err = new ApiError(
      res.status,
      e?.code ?? 'http_' + res.status,
      e?.message ?? `The server answered ${res.status} ${res.statusText}`.trim(),
    );
    if (res.status === 401 && !opts.quiet401 && onUnauthenticated) onUnauthenticated(err);
    throw err;
  }
  return data as T;
}

export const api = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) => request<T>('GET', path, { query, signal }),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, { body }),
  put: <T>(path: string, body?: unknown) => request<T>('PUT', path, { body }),
  patch: <T>(path: string, body?: unknown) => request<T>('PATCH', path, { body }),
  del: <T>(path: string) => request<T>('DELETE', path),
  /** One page of a keyset-paginated list. */
  list: <T>(path: string, query?: Query, signal?: AbortSignal) => request<Page<T>>('GET', path, { query, signal }),
};

export interface UploadHandle<T> {
  done: Promise<T>;
  abort: () => void;
}

/**
 * POSTs (or PUTs) `body` as is (`application/octet-stream`) to `path?query`, calling
 * onProgress(bytesSent) as it goes. Resolves with the JSON answer; rejects
 * with ApiError (the API's message), or an AbortError after abort().
 */
export function uploadBody<T>(path: string, query: Query, body: Blob, onProgress?: (sent: number) => void, method: 'POST' | 'PUT' = 'POST'): UploadHandle<T> {
  const xhr = new XMLHttpRequest();
  const done = new Promise<T>((resolve, reject) => {
    xhr.open(method, withQuery(API + path, query));
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    if (csrfToken) xhr.setRequestHeader('X-CSRF-Token', csrfToken);
    xhr.upload.onprogress = (e) => onProgress?.(e.loaded);
    xhr.onload = () => {
      let data: unknown = null;
      try {
        data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        data = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress?.(body.size);
        resolve(data as T);
        return;
      }
      const e = (data as { error?: { code?: string; message?: string } } | null)?.error;
      const err = new ApiError(xhr.status, e?.code ?? 'http_' + xhr.status, e?.message ?? `The server answered ${xhr.status} ${xhr.statusText}`.trim());
      if (xhr.status === 401 && onUnauthenticated) onUnauthenticated(err);
      reject(err);
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'Could not reach the cvops server. Check that it is running and try again.'));
    xhr.onabort = () => reject(new DOMException('The upload was canceled.', 'AbortError'));
    xhr.send(body);
  });
  return { done, abort: () => xhr.abort() };
}

/** A message for any thrown value: the API's words for ApiError. */
export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

export function isAbort(e: unknown): boolean {
  return e instanceof Error && e.name === 'AbortError';
}
