/*
 * router.ts - history-API routing for the single-page app.
 *
 * URLs are plain paths (/jobs/12, /settings/tokens); the server answers any
 * extension-less path outside /api with index.html, so a reload or a shared
 * link lands on the same page. A page is registered in routes.tsx as
 * {path, component}; patterns use `:name` for a parameter.
 *
 * Links: render <a href="/jobs"> as usual (or <Link>); one click handler on
 * the document turns same-origin clicks into navigate() unless a modifier key
 * asks for a new tab.
 */
import { createStore, useStore } from './store';

export interface Location {
  path: string;
  query: URLSearchParams;
}

function current(): Location {
  return { path: window.location.pathname || '/', query: new URLSearchParams(window.location.search) };
}

export const location = createStore<Location>(current());

export function navigate(to: string, opts: { replace?: boolean } = {}) {
  const url = new URL(to, window.location.href);
  const next = url.pathname + url.search + url.hash;
  const now = window.location.pathname + window.location.search + window.location.hash;
  if (next !== now) {
    if (opts.replace) window.history.replaceState(null, '', next);
    else window.history.pushState(null, '', next);
  }
  location.set(current());
}

/** Changes query parameters of the current page (filters) without a new history entry. */
export function setQuery(changes: Record<string, string | null | undefined>) {
  const q = new URLSearchParams(window.location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === '') q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  navigate(window.location.pathname + (s ? '?' + s : ''), { replace: true });
}

export function useLocation(): Location {
  return useStore(location);
}

/** Matches `/jobs/:id` against `/jobs/12` -> {id: "12"}; null if no match. */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const ps = pattern.split('/').filter(Boolean);
  const xs = path.split('/').filter(Boolean);
  const params: Record<string, string> = {};
  for (let i = 0; i < ps.length; i++) {
    const p = ps[i];
    const optional = p.endsWith('?');
    const name = optional ? p.slice(1, -1) : p.slice(1);
    if (p.startsWith(':')) {
      if (i >= xs.length) {
        if (optional) continue;
        return null;
      }
      params[name] = decodeURIComponent(xs[i]);
    } else if (p !== xs[i]) {
      return null;
    }
  }
  return xs.length <= ps.length ? params : null;
}

export function startRouter() {
  window.addEventListener('popstate', () => location.set(current()));
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element | null)?.closest?.('a');
    if (!a || !a.href || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href);
    if (url.origin !== window.location.origin || url.pathname.startsWith('/api/')) return;
    e.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  });
}
