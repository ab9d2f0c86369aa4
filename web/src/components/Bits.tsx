/*
 * Bits.tsx - small shared pieces: page header, progress bar, job state badge,
 * copy button, empty state.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { percent } from '../lib/format';
import type { JobState } from '../lib/types';

export function PageHeader(props: { title: string; subtitle?: ComponentChildren; actions?: ComponentChildren; crumbs?: { href: string; label: string }[] }) {
  return (
    <header class="page-header">
      <div>
        {props.crumbs && (
          <nav aria-label="Breadcrumb" class="crumbs">
            {props.crumbs.map((c) => (
              <span key={c.href}>
                <a href={c.href}>{c.label}</a>
                <span aria-hidden="true"> / </span>
              </span>
            ))}
          </nav>
        )}
        <h1 tabIndex={-1} class="page-title">
          {props.title}
        </h1>
        {props.subtitle && <p class="page-subtitle">{props.subtitle}</p>}
      </div>
      {props.actions && <div class="page-actions">{props.actions}</div>}
    </header>
  );
}

export function ProgressBar({ value, label }: { value: number; label: string }) {
  const v = Math.max(0, Math.min(1, value || 0));
  return (
    <div class="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(v * 100)}>
      <div class="progress-fill" style={{ width: `${v * 100}%` }} />
    </div>
  );
}

export function ProgressCell({ value, message, label }: { value: number; message: string | null; label: string }) {
  return (
    <div class="progress-cell">
      <ProgressBar value={value} label={label} />
      <span class="progress-text">
        {percent(value)}
        {message ? ` · ${message}` : ''}
      </span>
    </div>
  );
}

export function StateBadge({ state }: { state: JobState | string }) {
  return <span class={`badge badge-${state}`}>{state}</span>;
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    let ok = false;
    try {
      await navigator.clipboard.writeText(text);
      ok = true;
    } catch {
      /* no clipboard permission (e.g. plain http on another host): select-and-copy fallback */
      const ta = document.createElement('textarea');
      ta.value = text;
      ta.setAttribute('readonly', '');
      ta.style.position = 'fixed';
      ta.style.opacity = '0';
      document.body.appendChild(ta);
      ta.select();
      ok = document.execCommand('copy');
      ta.remove();
    }
    setDone(ok);
    if (ok) window.setTimeout(() => setDone(false), 2000);
  };
  return (
    <button type="button" class="button" onClick={copy}>
      {done ? 'Copied' : label}
    </button>
  );
}

export function Empty({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <p class="empty-title">{title}</p>
      {children && <div class="empty-body">{children}</div>}
    </div>
  );
}
