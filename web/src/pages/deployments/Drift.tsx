/*
 * Drift.tsx - the dashboard's drift panel (GET .../drift: Kolmogorov-Smirnov
 * D and p-value per image feature and over the labels, outlier share) and
 * the supervised metrics (GET .../supervised: champion vs shadow against the
 * reviews), shown when there are reviews.
 */
import { ErrorBox } from '../../components/Table';
import { pipelineApi, type Drift, type Score, type Supervised } from '../../lib/deploy';
import { useLoad } from '../../lib/hooks';
import { fmtNum, fmtPct } from './bits';

const FEATURES = ['brightness', 'contrast', 'sharpness', 'width', 'height', 'aspect'];

/** A p-value below 0.05 marks the distribution as drifted. */
function drifted(p: number | null | undefined): boolean {
  return p !== null && p !== undefined && Number.isFinite(p) && p < 0.05;
}

export function DriftCard({ id }: { id: number }) {
  const drift = useLoad((s) => pipelineApi.drift(id, s), [id]);
  return (
    <section class="card" aria-labelledby="dep-drift">
      <div class="card-title-row">
        <h2 id="dep-drift">Drift</h2>
        <button type="button" class="button button-small" onClick={drift.reload} disabled={drift.loading}>
          {drift.loading ? 'Measuring…' : 'Measure again'}
        </button>
      </div>
      {drift.error && <p class="muted" role="status">Drift is not available: {drift.error}</p>}
      {drift.data && <DriftBody d={drift.data} />}
    </section>
  );
}

function DriftBody({ d }: { d: Drift }) {
  const o = d.outliers;
  return (
    <>
      <p class="muted">
        The newest {d.window.predictions.toLocaleString('en-US')} predictions against {d.reference.images.toLocaleString('en-US')} images of{' '}
        dataset version {d.reference.dataset_version_id}. A p-value below 0.05 is marked drifted.
      </p>
      <table class="table" aria-label="Drift per feature">
        <thead>
          <tr>
            <th>Distribution</th>
            <th>KS statistic</th>
            <th>p-value</th>
            <th>Reference mean</th>
            <th>Production mean</th>
          </tr>
        </thead>
        <tbody>
          {FEATURES.filter((f) => d.features[f]).map((f) => {
            const x = d.features[f];
            return (
              <tr key={f} class={drifted(x.p_value) ? 'drifted' : undefined}>
                <td>
                  {f} {drifted(x.p_value) && <span class="badge badge-failed">drifted</span>}
                </td>
                <td>{fmtNum(x.ks, 3)}</td>
                <td>{fmtNum(x.p_value, 4)}</td>
                <td>{fmtNum(x.reference_mean, 2)}</td>
                <td>{fmtNum(x.production_mean, 2)}</td>
              </tr>
            );
          })}
          <tr class={drifted(d.labels.p_value) ? 'drifted' : undefined}>
            <td>
              labels {drifted(d.labels.p_value) && <span class="badge badge-failed">drifted</span>}
            </td>
            <td>{fmtNum(d.labels.ks, 3)}</td>
            <td>{fmtNum(d.labels.p_value, 4)}</td>
            <td colSpan={2} class="muted">
              {d.labels.items
                .slice(0, 6)
                .map((l) => `${l.label} ${fmtPct(l.reference)} → ${fmtPct(l.production)}`)
                .join(' · ')}
            </td>
          </tr>
        </tbody>
      </table>
      <dl class="facts" aria-label="Outliers">
        <dt>Outliers</dt>
        <dd>
          {o.available ? (
            <>
              {fmtPct(o.rate)} ({o.outliers} of {o.scored} scored, at or above the {o.percentile}th percentile)
            </>
          ) : (
            <span class="muted">not scored: {o.reason}</span>
          )}
        </dd>
        <dt>Out of range</dt>
        <dd>{o.out_of_range} prediction{o.out_of_range === 1 ? '' : 's'} with a feature outside the reference's range</dd>
      </dl>
    </>
  );
}

export function SupervisedCard({ id }: { id: number }) {
  const sup = useLoad((s) => pipelineApi.supervised(id, s), [id]);
  if (sup.error) return <ErrorBox message={sup.error} onRetry={sup.reload} />;
  if (!sup.data || sup.data.reviews === 0) return null;
  return <SupervisedBody s={sup.data} />;
}

function SupervisedBody({ s }: { s: Supervised }) {
  const rows: { key: keyof Score; label: string }[] = [
    { key: 'accuracy', label: 'Accuracy' },
    { key: 'macro_precision', label: 'Macro precision' },
    { key: 'macro_recall', label: 'Macro recall' },
    { key: 'macro_f1', label: 'Macro F1' },
  ];
  return (
    <section class="card" aria-labelledby="dep-supervised">
      <h2 id="dep-supervised">Against the reviews</h2>
      <p class="muted">
        {s.reviews} reviewed prediction{s.reviews === 1 ? '' : 's'}, scored by top class
        {s.reviews_without_class ? ` (${s.reviews_without_class} without a class not scored)` : ''}.
      </p>
      <table class="table" aria-label="Champion vs shadow">
        <thead>
          <tr>
            <th>Metric</th>
            <th>Champion ({s.champion.n})</th>
            <th>Shadow ({s.shadow.n})</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.key}>
              <td>{r.label}</td>
              <td>{s.champion.n ? fmtPct(s.champion[r.key] as number | null) : '—'}</td>
              <td>{s.shadow.n ? fmtPct(s.shadow[r.key] as number | null) : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
