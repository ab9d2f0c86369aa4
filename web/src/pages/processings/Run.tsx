/*
 * Run.tsx - /processings/runs/:id: one run. Its state and progress (re-read
 * every second while it is queued or running), what it ran on with which
 * parameters and resources, on success the outputs linked to what they made,
 * on failure the error and the command's last lines; the job's log followed
 * live (the run's id is its job's id). Cancel while it runs.
 */
import { PageHeader, ProgressBar, StateBadge } from '../../components/Bits';
import { ErrorBox } from '../../components/Table';
import { toast } from '../../components/Toasts';
import { errorMessage } from '../../lib/api';
import { formatTime, jobDuration, percent } from '../../lib/format';
import { useInterval, useLoad } from '../../lib/hooks';
import { processings, type Run, type RunOutput } from '../../lib/processing';
import { can } from '../../lib/roles';
import { currentMe } from '../../lib/session';
import { jobActive } from '../../lib/types';
import type { PageProps } from '../../routes';
import { JobLog } from '../Job';
import { TargetRef } from './bits';
import './processings.css';

function OutputLink({ o, run }: { o: RunOutput; run: Run }) {
  const datasetId = run.input.dataset_id;
  if (o.type === 'dataset-version' && typeof o.id === 'number')
    return datasetId ? <a href={`/datasets/${datasetId}/versions/${o.id}`}>new dataset version {String(o.name ?? o.id)}</a> : <span>dataset version {o.id}</span>;
  if (o.type === 'tags') {
    const lake = run.input.kind === 'datalake' ? run.input.id : (run.input.datalake_id as number | undefined);
    return (
      <span>
        tag <code>{String(o.tag ?? '')}</code> on {String(o.tagged ?? 0)} item{o.tagged === 1 ? '' : 's'}
        {o.tag && lake ? (
          <>
            {' '}
            (<a href={`/datalake?lake=${lake}&q=${encodeURIComponent(`tag = "${o.tag}"`)}`}>see them</a>)
          </>
        ) : null}
      </span>
    );
  }
  if (o.type === 'model-version' && typeof o.model_id === 'number') return <a href={`/models/${o.model_id}/versions/${String(o.version ?? '')}`}>model version {String(o.version ?? o.id)}</a>;
  if (o.type === 'data') return <span>{String(o.count ?? o.items ?? '')} new datalake item(s)</span>;
  return <code>{JSON.stringify(o)}</code>;
}

export function RunPage({ params }: PageProps) {
  const id = Number(params.id);
  const me = currentMe();
  const run = useLoad((s) => processings.get(id, s), [id]);
  const r = run.data;
  const refresh = () => processings.get(id).then(run.setData, () => undefined);
  useInterval(refresh, 1000, !!r && jobActive(r));
  const cancel = async () => {
    try {
      await processings.cancel(id);
      toast(`Cancel requested for run #${id}.`, { kind: 'success' });
      refresh();
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    }
  };
  const outputs = (r?.result?.outputs ?? []) as RunOutput[];
  const lastLines = r?.result?.last_lines;
  return (
    <div class="page">
      <PageHeader
        crumbs={[{ href: '/processings', label: 'Processings' }]}
        title={r ? `Run #${id}: ${r.processing.name}` : `Run #${id}`}
        subtitle={r && <>on <TargetRef input={r.input} /></>}
        actions={
          r &&
          jobActive(r) &&
          can(me?.role, 'write') && (
            <button type="button" class="button" onClick={cancel}>
              Cancel
            </button>
          )
        }
      />
      {run.error && <ErrorBox message={run.error} onRetry={run.reload} />}
      {r && (
        <>
          <section class="card job-summary" aria-label="Status">
            <div class="job-progress">
              <StateBadge state={r.state} />
              <ProgressBar value={r.progress} label="Run progress" />
              <span class="job-progress-text" data-testid="run-progress">
                {percent(r.progress)}
                {r.message ? ` · ${r.message}` : ''}
              </span>
            </div>
            {r.error && (
              <p class="job-error" role="alert">
                {r.error}
              </p>
            )}
            <dl class="facts">
              <dt>Processing</dt>
              <dd>
                {r.processing.name} {r.processing.builtin ? '(built-in)' : `v${r.processing.version}`}
              </dd>
              <dt>Started</dt>
              <dd>{formatTime(r.started_at)}</dd>
              <dt>Duration</dt>
              <dd>{jobDuration(r.started_at, r.finished_at)}</dd>
              <dt>Worker</dt>
              <dd>{r.worker ? <code>{r.worker}</code> : '—'}</dd>
            </dl>
          </section>
          {r.state === 'succeeded' && (
            <section class="card" aria-labelledby="run-outputs">
              <h2 id="run-outputs">Outputs</h2>
              {outputs.length ? (
                <ul class="run-outputs" aria-label="Outputs">
                  {outputs.map((o, i) => (
                    <li key={i}>
                      <OutputLink o={o} run={r} />
                    </li>
                  ))}
                </ul>
              ) : (
                <p class="muted">This run made nothing.</p>
              )}
            </section>
          )}
          {lastLines && lastLines.length > 0 && (
            <section class="card">
              <h2>Last lines of output</h2>
              <pre class="log run-lastlines">{lastLines.join('\n')}</pre>
            </section>
          )}
          <div class="two-col">
            <section class="card" aria-labelledby="run-params">
              <h2 id="run-params">Parameters</h2>
              <dl class="facts" aria-label="Parameter values">
                {Object.entries(r.params).map(([k, v]) => [<dt key={k + 'k'}>{k}</dt>, <dd key={k + 'v'}><code>{typeof v === 'object' ? JSON.stringify(v) : String(v)}</code></dd>])}
              </dl>
              {r.query && (
                <p>
                  Only: <code>{r.query}</code>
                </p>
              )}
            </section>
            <section class="card">
              <h2>Resources</h2>
              <dl class="facts">
                {Object.entries(r.resources).map(([k, v]) => [<dt key={k + 'k'}>{k}</dt>, <dd key={k + 'v'}>{String(v)}</dd>])}
              </dl>
            </section>
          </div>
          <JobLog id={String(id)} epoch={0} onLines={refresh} />
          {r.result && (
            <details class="card">
              <summary>The whole result</summary>
              <pre class="json">{JSON.stringify(r.result, null, 2)}</pre>
            </details>
          )}
        </>
      )}
    </div>
  );
}
