/*
 * Toasts.tsx - short messages in a corner: "Token created", an API error that
 * has no form to sit in, "Job #12 succeeded". toast() may be called from
 * anywhere; <Toasts/> is rendered once by the shell. Errors stay until
 * dismissed and are announced at once (role=alert); others fade after 6 s.
 */
import { createStore, useStore } from '../lib/store';

export type ToastKind = 'info' | 'success' | 'error';

export interface Toast {
  id: number;
  kind: ToastKind;
  message: string;
  link?: { href: string; label: string };
}

const toasts = createStore<Toast[]>([]);
let nextId = 1;

export function toast(message: string, opts: { kind?: ToastKind; link?: Toast['link']; ms?: number } = {}) {
  const t: Toast = { id: nextId++, kind: opts.kind ?? 'info', message, link: opts.link };
  toasts.update((xs) => [...xs.slice(-4), t]);
  const ms = opts.ms ?? (t.kind === 'error' ? 0 : 6000);
  if (ms > 0) window.setTimeout(() => dismiss(t.id), ms);
}

export function dismiss(id: number) {
  toasts.update((xs) => xs.filter((x) => x.id !== id));
}

export function Toasts() {
  const list = useStore(toasts);
  return (
    <div class="toasts" aria-live="polite" role="status">
      {list.map((t) => (
        <div key={t.id} class={`toast toast-${t.kind}`} role={t.kind === 'error' ? 'alert' : undefined}>
          <span class="toast-message">{t.message}</span>
          {t.link && (
            <a href={t.link.href} onClick={() => dismiss(t.id)}>
              {t.link.label}
            </a>
          )}
          <button type="button" class="icon-button" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
