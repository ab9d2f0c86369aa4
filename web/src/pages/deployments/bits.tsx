/* bits.tsx - pieces shared by the deployment pages. */
import { useLoad } from '../../lib/hooks';
import { registry } from '../../lib/registry';
import type { Deployment } from '../../lib/deploy';

/** "model vN" linking to the version page, for a model version id. */
export function VersionRef({ id }: { id: number | null }) {
  const v = useLoad((s) => (id ? registry.version(id, s) : Promise.resolve(null)), [id]);
  if (!id) return <span class="muted">none</span>;
  if (!v.data) return <span class="muted">{v.error ? `version ${id} (${v.error})` : `version ${id}`}</span>;
  return (
    <a href={`/models/${v.data.model_id}/versions/${v.data.version}`}>
      {v.data.model} v{v.data.version}
    </a>
  );
}

export function DeployTabs({ d, current }: { d: Deployment | undefined; current: 'dashboard' | 'predictions' | 'pipeline' }) {
  const id = d?.id;
  return (
    <nav class="tabs" aria-label="Deployment">
      <a class="tab" href={id ? `/deployments/${id}` : '#'} aria-current={current === 'dashboard' ? 'page' : undefined}>
        Dashboard
      </a>
      <a class="tab" href={id ? `/deployments/${id}/predictions` : '#'} aria-current={current === 'predictions' ? 'page' : undefined}>
        Predictions
        {d ? <span class="tab-count">{d.predictions.toLocaleString('en-US')}</span> : null}
      </a>
      <a class="tab" href={id ? `/deployments/${id}/pipeline` : '#'} aria-current={current === 'pipeline' ? 'page' : undefined}>
        Pipeline
      </a>
    </nav>
  );
}

export function fmtNum(v: number | null | undefined, digits = 1): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return Number(v.toFixed(digits)).toLocaleString('en-US');
}

export function fmtPct(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return `${(v * 100).toFixed(1)}%`;
}
