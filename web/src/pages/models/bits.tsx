/* bits.tsx - small pieces of the Models section. */

/** {champion: 3} as chips "champion → v3". */
export function AliasChips({ aliases }: { aliases: Record<string, number> }) {
  const keys = Object.keys(aliases);
  if (!keys.length) return <span class="muted">—</span>;
  return (
    <span class="chips">
      {keys.map((a) => (
        <span key={a} class="chip chip-small alias-chip">
          {a} → v{aliases[a]}
        </span>
      ))}
    </span>
  );
}

export function VersionStatus({ status, reason }: { status: string; reason?: string | null }) {
  return (
    <span class={`badge badge-mv-${status}`} title={reason ?? undefined}>
      {status}
    </span>
  );
}

export function basename(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? path : path.slice(i + 1);
}

/** A parameter's value as text (objects as compact JSON). */
export function paramText(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
