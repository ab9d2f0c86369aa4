/*
 * Stats.tsx - a version's statistics (GET /dataset-versions/{id}/stats) as
 * small charts in plain HTML: objects per label (in the labels' colours),
 * annotation statuses as one stacked bar, splits, shape kinds and box sizes.
 * Every bar has its number written next to it; nothing needs a tooltip.
 */
import type { Label, Status, VersionStats } from '../../lib/datasets';

const STATUS_ORDER: (Status | 'none')[] = ['accepted', 'pending', 'rejected', 'skipped', 'none'];
const STATUS_TEXT: Record<Status | 'none', string> = { accepted: 'accepted', pending: 'pending', rejected: 'rejected', skipped: 'skipped', none: 'not annotated' };

export function StatsPanel({ stats, labels, compact }: { stats: VersionStats; labels: Label[]; compact?: boolean }) {
  const color = new Map(labels.map((l) => [l.name, l.color]));
  return (
    <div class={'stats' + (compact ? ' stats-compact' : '')} data-testid="stats">
      <section aria-labelledby="st-status">
        <h3 id="st-status">Statuses</h3>
        <StatusBar stats={stats} />
      </section>
      <section aria-labelledby="st-labels">
        <h3 id="st-labels">
          Objects per label <span class="muted">({stats.objects.toLocaleString()} objects)</span>
        </h3>
        <LabelBars stats={stats} color={color} />
      </section>
      <section aria-labelledby="st-splits">
        <h3 id="st-splits">Splits</h3>
        <Splits stats={stats} color={color} />
      </section>
      {!compact && (
        <section aria-labelledby="st-kinds">
          <h3 id="st-kinds">Shapes</h3>
          <Kinds stats={stats} />
        </section>
      )}
    </div>
  );
}

export function StatusBar({ stats }: { stats: VersionStats }) {
  const total = stats.assets || 1;
  return (
    <div>
      <div class="stackbar" role="img" aria-label={STATUS_ORDER.map((s) => `${STATUS_TEXT[s]} ${stats.status[s] ?? 0}`).join(', ')}>
        {STATUS_ORDER.map((s) =>
          stats.status[s] ? <span key={s} class={`stackbar-part st-${s}`} style={{ width: `${((stats.status[s] ?? 0) / total) * 100}%` }} /> : null,
        )}
      </div>
      <ul class="legend">
        {STATUS_ORDER.map((s) => (
          <li key={s} data-status={s}>
            <span class={`legend-dot st-${s}`} aria-hidden="true" />
            {STATUS_TEXT[s]} <strong>{(stats.status[s] ?? 0).toLocaleString()}</strong>
          </li>
        ))}
      </ul>
    </div>
  );
}

function LabelBars({ stats, color }: { stats: VersionStats; color: Map<string, string> }) {
  if (!stats.labels.length) return <p class="muted">No objects yet.</p>;
  const rows = [...stats.labels].sort((a, b) => b.objects - a.objects);
  const max = Math.max(1, ...rows.map((r) => r.objects));
  return (
    <table class="hbars" data-testid="label-histogram">
      <caption class="sr-only">Objects per label</caption>
      <tbody>
        {rows.map((r) => (
          <tr key={r.name}>
            <th scope="row" title={r.name}>
              {r.name}
            </th>
            <td class="hbars-bar">
              <span style={{ width: `${(r.objects / max) * 100}%`, background: color.get(r.name) ?? 'var(--accent)' }} />
            </td>
            <td class="num">{r.objects.toLocaleString()}</td>
            <td class="num muted" title="images with this label">
              {r.images.toLocaleString()} img
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Splits({ stats, color }: { stats: VersionStats; color: Map<string, string> }) {
  const known = new Set(stats.splits.map((s) => s.name));
  const parts = stats.tags.filter((t) => known.has(t.name));
  if (!parts.length) return <p class="muted">Not split yet.</p>;
  const total = stats.assets || 1;
  const labelNames = stats.labels.map((l) => l.name);
  return (
    <div>
      <div class="stackbar" role="img" aria-label={parts.map((p) => `${p.name} ${p.count}`).join(', ')}>
        {parts.map((p, i) => (
          <span key={p.name} class={`stackbar-part split-${i % 6}`} style={{ width: `${(p.count / total) * 100}%` }} title={`${p.name}: ${p.count}`} />
        ))}
      </div>
      <ul class="legend">
        {parts.map((p, i) => (
          <li key={p.name}>
            <span class={`legend-dot split-${i % 6}`} aria-hidden="true" />
            {p.name} <strong>{p.count.toLocaleString()}</strong> <span class="muted">({Math.round((p.count / total) * 100)}%)</span>
          </li>
        ))}
      </ul>
      {labelNames.length > 0 && (
        <table class="table table-compact" data-testid="split-labels">
          <thead>
            <tr>
              <th scope="col">Label</th>
              {parts.map((p) => (
                <th key={p.name} scope="col" class="num">
                  {p.name}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {labelNames.slice(0, 12).map((l) => (
              <tr key={l}>
                <th scope="row">
                  <span class="swatch" style={{ background: color.get(l) ?? '#888' }} aria-hidden="true" /> {l}
                </th>
                {parts.map((p) => (
                  <td key={p.name} class="num">
                    {(stats.splits.find((s) => s.name === p.name)?.labels.find((x) => x.name === l)?.objects ?? 0).toLocaleString()}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function Kinds({ stats }: { stats: VersionStats }) {
  const kinds = Object.entries(stats.kinds).filter(([, n]) => n);
  const max = Math.max(1, ...stats.box_sizes.map((b) => b.count));
  return (
    <div>
      <p>{kinds.length ? kinds.map(([k, n]) => `${(n ?? 0).toLocaleString()} ${k}`).join(' · ') : <span class="muted">No shapes.</span>}</p>
      {stats.box_sizes.some((b) => b.count) && (
        <>
          <h4 class="muted">Box sizes (√(w·h), px)</h4>
          <div class="vbars" role="img" aria-label={stats.box_sizes.map((b) => `${b.bucket}: ${b.count}`).join(', ')}>
            {stats.box_sizes.map((b) => (
              <div key={b.bucket} class="vbars-col">
                <span class="vbars-bar" style={{ height: `${(b.count / max) * 100}%` }} />
                <span class="vbars-label">{b.bucket}</span>
              </div>
            ))}
          </div>
        </>
      )}
    </div>
  );
}
