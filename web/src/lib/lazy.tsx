/*
 * lazy.tsx - a page whose code is loaded when it is first shown.
 *
 * A section with a lot of code (the datalake: virtual grid views, query
 * bar, upload queue, item page) is its own chunk, so the first load of the
 * app stays the size of the shell; Vite splits at the dynamic import(). The
 * chunk has a hashed name under /assets/ and is cached for good, like the
 * main script. While it loads (a few ms from the server next door) the page
 * shows nothing for 150 ms, then "Loading…"; if it fails (a new version was
 * deployed and the old chunk is gone) it says to reload.
 */
import type { FunctionComponent } from 'preact';
import { useEffect, useState } from 'preact/hooks';

export function lazyPage<P extends object>(load: () => Promise<FunctionComponent<P>>): FunctionComponent<P> {
  let loaded: FunctionComponent<P> | null = null;
  let pending: Promise<FunctionComponent<P>> | null = null;
  const get = () => (pending ??= load().then((c) => (loaded = c), (e) => ((pending = null), Promise.reject(e))));
  return function LazyPage(props: P) {
    const [C, setC] = useState<FunctionComponent<P> | null>(() => loaded);
    const [state, setState] = useState<'wait' | 'slow' | 'failed'>('wait');
    useEffect(() => {
      if (C) return;
      let live = true;
      const t = window.setTimeout(() => live && setState('slow'), 150);
      get().then(
        (c) => {
          if (!live) return;
          setC(() => c);
          /* the shell moved focus to the page's heading before there was one: do it now,
             unless the user has since gone into the page or a menu or dialog */
          window.requestAnimationFrame(() => {
            const a = document.activeElement;
            const main = document.getElementById('main');
            const busy = a && a !== document.body && a !== main && (main?.contains(a) || a.closest('dialog, [role=menu]'));
            if (!busy) document.querySelector<HTMLElement>('main .page-title')?.focus({ preventScroll: true });
          });
        },
        () => live && setState('failed'),
      );
      return () => {
        live = false;
        window.clearTimeout(t);
      };
    }, []);
    if (C) return <C {...props} />;
    if (state === 'failed')
      return (
        <div class="page">
          <p role="alert">
            This page could not be loaded. The server may have been upgraded: <a href={window.location.href}>reload the page</a>.
          </p>
        </div>
      );
    return state === 'slow' ? (
      <div class="page">
        <p class="muted">Loading…</p>
      </div>
    ) : null;
  };
}
