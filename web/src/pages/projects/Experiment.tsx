/*
 * Experiment.tsx - /projects/{pid}/experiments/{id}/{tab}: one experiment.
 *
 * The record (GET /experiments/{id}: status and times, params, datasets,
 * every metric's count, extremes and latest point) is loaded once for all
 * tabs and re-read every 2 s while the experiment is queued or running, so
 * its status, duration and metric list move live. Tabs are URLs:
 *   overview   status, times, command and host, tags, params, datasets, metrics
 *   metrics    a zoomable chart per metric (MetricChart)
 *   logs       tables, bars, heatmaps, confusion matrices, images by step, label maps
 *   output     the run's text output, followed live (long poll)
 *   artifacts  files with size and SHA-256, to download
 *   evaluations  the experiment's evaluations (pages/evaluation/)
 *
 * An experiment with a train dataset can be trained on the platform's
 * trainer from here (docs/training.md): Launch training (its parameters),
 * Cancel training while it runs, Resume after a cancel or a failure; the
 * current run's epoch and validation accuracy show next to the status.
 */
import { useMemo, useState } from 'preact/hooks';
import { PageHeader, StateBadge } from '../../components/Bits';
import { confirmDialog } from '../../components/Dialog';
import { ErrorBox } from '../../components/Table';
import { toast } from '../../components/Toasts';
import { api, errorMessage } from '../../lib/api';
import { formatTime, jobDuration } from '../../lib/format';
import { useInterval, useLoad } from '../../lib/hooks';
import { can } from '../../lib/roles';
import { navigate } from '../../lib/router';
import { currentMe } from '../../lib/session';
import { expActive, expHref, formatValue, paramText, type Experiment, type Project, type TrainingRun, type TrainingView } from '../../lib/tracking';
import { EvaluationsTab } from '../evaluation/EvaluationsTab';
import { ArtifactsTab } from './ExperimentArtifacts';
import { LogsTab } from './ExperimentLogs';
import { MetricsTab } from './ExperimentMetrics';
import { OutputTab } from './ExperimentOutput';
import { PublishDialog } from './PublishDialog';
import { TrainingDialog } from './TrainingForm';
import './projects.css';

const TABS = [
  { id: 'overview', label: 'Overview' },
  { id: 'metrics', label: 'Metrics' },
  { id: 'logs', label: 'Logs' },
  { id: 'output', label: 'Output' },
  { id: 'artifacts', label: 'Artifacts' },
  { id: 'evaluations', label: 'Evaluations' },
];

export function ExperimentPage({ params }: { params: Record<string, string> }) {
  const id = Number(params.id);
  const tab = params.tab ?? 'overview';
  const me = currentMe();
  const exp = useLoad((signal) => api.get<Experiment>(`/experiments/${id}`, undefined, signal), [id]);
  const project = useLoad((signal) => api.get<Project>(`/projects/${params.pid}`, undefined, signal), [params.pid]);
  const e = exp.data;
  const trainable = !!e && e.datasets.train !== undefined;
  const training = useLoad(
    (signal) => (trainable ? api.get<TrainingView>(`/experiments/${id}/training`, undefined, signal) : Promise.resolve(undefined)),
    [id, trainable],
  );
  const [tick, setTick] = useState(0);
  const [publishing, setPublishing] = useState(false);
  useInterval(
    () =>
      api.get<Experiment>(`/experiments/${id}`).then(
        (x) => {
          exp.setData(x);
          setTick((t) => t + 1);
          if (x.datasets.train !== undefined) training.reload();
        },
        () => {
          /* next tick */
        },
      ),
    2000,
    !!e && (expActive(e.status) || (!!training.data?.current && expActive(training.data.current.state))),
  );

  const crumbs = [
    { href: '/projects', label: 'Projects' },
    { href: `/projects/${params.pid}`, label: project.data?.name ?? `Project ${params.pid}` },
  ];
  if (exp.error && !e)
    return (
      <div class="page">
        <PageHeader title={`Experiment ${id}`} crumbs={crumbs} />
        <ErrorBox message={exp.error} onRetry={exp.reload} />
      </div>
    );

  const trainingChanged = (v: TrainingView) => {
    training.setData(v);
    exp.reload();
  };

  const remove = async () => {
    if (!e) return;
    const ok = await confirmDialog({
      title: `Delete experiment ${e.name}?`,
      message: 'This deletes its metrics, logs, output and artifact list. It cannot be undone.',
      confirmLabel: 'Delete experiment',
      danger: true,
    });
    if (!ok) return;
    try {
      await api.del(`/experiments/${e.id}`);
      toast(`Experiment ${e.name} deleted.`, { kind: 'success' });
      navigate(`/projects/${e.project_id}`);
    } catch (err) {
      toast(errorMessage(err), { kind: 'error' });
    }
  };

  return (
    <div class="page">
      <PageHeader
        title={e ? e.name : `Experiment ${id}`}
        crumbs={crumbs}
        subtitle={
          e ? (
            <span class="exp-subtitle">
              <span data-testid="exp-status">
                <StateBadge state={e.status} />
              </span>
              <span>
                {e.started_at ? `started ${formatTime(e.started_at)}` : `created ${formatTime(e.created_at)}`} · {jobDuration(e.started_at, e.finished_at)}
              </span>
              {training.data?.current && <RunProgress run={training.data.current} />}
              {e.tags.map((t) => (
                <a key={t} class="tag" href={`/projects/${e.project_id}?tag=${encodeURIComponent(t)}`}>
                  {t}
                </a>
              ))}
            </span>
          ) : (
            'Loading…'
          )
        }
        actions={
          e &&
          can(me?.role, 'write') && (
            <>
              {trainable && <TrainingButtons e={e} run={training.data?.current ?? null} onChange={trainingChanged} />}
              <button type="button" class="button" onClick={() => setPublishing(true)}>
                Publish as model…
              </button>
              <PublishDialog open={publishing} e={e} onClose={() => setPublishing(false)} />
              <button type="button" class="button button-danger-quiet" onClick={remove}>
                Delete
              </button>
            </>
          )
        }
      />
      <nav class="tabs" aria-label="Experiment">
        {TABS.map((t) => (
          <a key={t.id} class="tab" href={e ? expHref(e, t.id === 'overview' ? undefined : t.id) : '#'} aria-current={t.id === tab ? 'page' : undefined}>
            {t.label}
            {t.id === 'metrics' && e ? <span class="tab-count">{e.metrics.length}</span> : null}
            {t.id === 'output' && e && e.output_lines ? <span class="tab-count">{e.output_lines.toLocaleString('en-US')}</span> : null}
          </a>
        ))}
      </nav>
      {!e && <p class="muted">Loading…</p>}
      {e && tab === 'overview' && <Overview e={e} />}
      {e && tab === 'metrics' && <MetricsTab e={e} />}
      {e && tab === 'logs' && <LogsTab e={e} tick={tick} />}
      {e && tab === 'output' && <OutputTab e={e} />}
      {e && tab === 'artifacts' && <ArtifactsTab e={e} tick={tick} />}
      {e && tab === 'evaluations' && <EvaluationsTab e={e} />}
      {e && !TABS.some((t) => t.id === tab) && (
        <p>
          There is no tab <code>{tab}</code>. <a href={expHref(e)}>Go to the overview.</a>
        </p>
      )}
    </div>
  );
}

/** Launch, cancel or resume the experiment's training on the platform's trainer. */
function TrainingButtons({ e, run, onChange }: { e: Experiment; run: TrainingRun | null; onChange: (v: TrainingView) => void }) {
  const [busy, setBusy] = useState(false);
  const [formOpen, setFormOpen] = useState(false);
  const act = async (path: string, body: unknown, done: string) => {
    setBusy(true);
    try {
      const v = await api.post<TrainingView>(`/experiments/${e.id}/${path}`, body);
      toast(done, { kind: 'success' });
      onChange(v);
    } catch (err) {
      toast(errorMessage(err), { kind: 'error' });
    } finally {
      setBusy(false);
    }
  };
  if (run && expActive(run.state))
    return (
      <button type="button" class="button" disabled={busy} onClick={() => act('cancel', undefined, 'Training canceled; it stops after its current step.')}>
        Cancel training
      </button>
    );
  if (run && run.state === 'succeeded') return null;
  const resumable = !!run && (run.state === 'canceled' || run.state === 'failed') && run.epoch > 0;
  return (
    <>
      <button type="button" class="button" disabled={busy} onClick={() => setFormOpen(true)}>
        Training parameters…
      </button>
      <TrainingDialog
        open={formOpen}
        e={e}
        onClose={() => setFormOpen(false)}
        onLaunched={(v) => {
          setFormOpen(false);
          onChange(v);
        }}
      />
      {resumable && (
        <button type="button" class="button" disabled={busy} onClick={() => act('launch', { resume: true }, `Training resumes from epoch ${run.epoch}.`)}>
          Resume training
        </button>
      )}
      <button type="button" class="button button-primary" disabled={busy} onClick={() => act('launch', {}, 'Training launched on the platform\'s trainer.')}>
        {run ? 'Launch again' : 'Launch training'}
      </button>
    </>
  );
}

function RunProgress({ run }: { run: TrainingRun }) {
  const parts = [`training ${run.state}`, `epoch ${run.epoch}/${run.epochs}`];
  // a detection run's val_acc is its val mAP (src/training/det.c)
  const det = run.config?.task === 'detection' || (typeof run.config?.architecture === 'string' && run.config.architecture.startsWith('detector-'));
  if (run.val_acc !== null && run.val_acc !== undefined && run.val_acc >= 0) parts.push(`${det ? 'val mAP' : 'val acc'} ${run.val_acc.toFixed(3)}`);
  if (run.eval_accuracy !== null && run.eval_accuracy !== undefined) parts.push(`${run.eval_split} acc ${run.eval_accuracy.toFixed(3)}`);
  return <span data-testid="training-progress">{parts.join(' · ')}</span>;
}

function Overview({ e }: { e: Experiment }) {
  const [filter, setFilter] = useState('');
  const params = useMemo(() => Object.entries(e.params).sort(([a], [b]) => a.localeCompare(b)), [e.params]);
  const f = filter.trim().toLowerCase();
  const shownParams = f ? params.filter(([k, v]) => k.toLowerCase().includes(f) || paramText(v).toLowerCase().includes(f)) : params;
  const datasets = Object.entries(e.datasets);
  return (
    <>
      <section class="card" aria-labelledby="ov-run">
        <h2 id="ov-run">Run</h2>
        {e.description && <p>{e.description}</p>}
        <dl class="facts exp-facts">
          <dt>Status</dt>
          <dd>
            <StateBadge state={e.status} />
          </dd>
          <dt>Duration</dt>
          <dd>{jobDuration(e.started_at, e.finished_at)}</dd>
          <dt>Created</dt>
          <dd>{formatTime(e.created_at)}</dd>
          <dt>Queued</dt>
          <dd>{formatTime(e.queued_at)}</dd>
          <dt>Started</dt>
          <dd>{formatTime(e.started_at)}</dd>
          <dt>Finished</dt>
          <dd>{formatTime(e.finished_at)}</dd>
          <dt>Updated</dt>
          <dd>{formatTime(e.updated_at)}</dd>
          <dt>Host</dt>
          <dd>{e.host ? <code>{e.host}</code> : '—'}</dd>
          <dt>Command</dt>
          <dd class="exp-command">{e.command ? <code>{e.command}</code> : '—'}</dd>
          <dt>Base model</dt>
          <dd>{e.base_model_version_id ? `version ${e.base_model_version_id}` : '—'}</dd>
          <dt>Tags</dt>
          <dd>{e.tags.length ? e.tags.join(', ') : '—'}</dd>
          <dt>Output</dt>
          <dd>
            <a href={expHref(e, 'output')}>{e.output_lines.toLocaleString('en-US')} lines</a>
          </dd>
        </dl>
      </section>
      <div class="two-col">
        <section class="card" aria-labelledby="ov-params">
          <div class="card-title-row">
            <h2 id="ov-params">Parameters</h2>
            <span class="muted">{params.length}</span>
          </div>
          {params.length > 12 && (
            <label class="inline-filter">
              <span class="sr-only">Find a parameter</span>
              <input type="search" placeholder="Find a parameter" value={filter} onInput={(ev) => setFilter((ev.target as HTMLInputElement).value)} />
            </label>
          )}
          {params.length === 0 ? (
            <p class="muted">No parameters were logged.</p>
          ) : (
            <table class="table kv-table" data-testid="params-table">
              <caption class="sr-only">Parameters</caption>
              <tbody>
                {shownParams.map(([k, v]) => (
                  <tr key={k}>
                    <th scope="row" class="mono">
                      {k}
                    </th>
                    <td class="mono">{paramText(v)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <section class="card" aria-labelledby="ov-data">
          <h2 id="ov-data">Datasets</h2>
          {datasets.length === 0 ? (
            <p class="muted">No dataset versions are attached.</p>
          ) : (
            <table class="table kv-table">
              <caption class="sr-only">Datasets</caption>
              <tbody>
                {datasets.map(([alias, v]) => (
                  <tr key={alias}>
                    <th scope="row">{alias}</th>
                    <td>dataset version {v}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>
      <section class="card" aria-labelledby="ov-metrics">
        <div class="card-title-row">
          <h2 id="ov-metrics">Metrics</h2>
          <a href={expHref(e, 'metrics')}>Charts</a>
        </div>
        {e.metrics.length === 0 ? (
          <p class="muted">No metrics were logged.</p>
        ) : (
          <div class="table-wrap">
            <table class="table">
              <caption class="sr-only">Latest metrics</caption>
              <thead>
                <tr>
                  <th scope="col">Metric</th>
                  <th scope="col" class="num">
                    Last
                  </th>
                  <th scope="col" class="num">
                    At step
                  </th>
                  <th scope="col" class="num">
                    Min
                  </th>
                  <th scope="col" class="num">
                    Max
                  </th>
                  <th scope="col" class="num">
                    Points
                  </th>
                </tr>
              </thead>
              <tbody>
                {e.metrics.map((m) => (
                  <tr key={m.name}>
                    <th scope="row" class="mono">
                      {m.name}
                    </th>
                    <td class="num mono">{formatValue(m.last)}</td>
                    <td class="num">{m.last_step.toLocaleString('en-US')}</td>
                    <td class="num mono">{formatValue(m.min)}</td>
                    <td class="num mono">{formatValue(m.max)}</td>
                    <td class="num">{m.count.toLocaleString('en-US')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
