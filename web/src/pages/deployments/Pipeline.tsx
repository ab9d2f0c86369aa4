/*
 * Pipeline.tsx - /deployments/:id/pipeline: the deployment's pipeline
 * (docs/operations.md): feedback target, continuous training and deployment
 * settings (PUT .../pipeline, the API's errors under the field they name),
 * counters, the runs (state, experiment, candidate version, reason) and
 * "Train now" (POST .../pipeline/runs).
 */
import { useState } from 'preact/hooks';
import { PageHeader, StateBadge } from '../../components/Bits';
import { confirmDialog } from '../../components/Dialog';
import { Field, FormError, SelectField, TextField, useForm } from '../../components/Form';
import { ErrorBox } from '../../components/Table';
import { toast } from '../../components/Toasts';
import { ApiError, errorMessage } from '../../lib/api';
import { deploy, pipelineApi, type Pipeline, type PipelineBody, type PipelineRun } from '../../lib/deploy';
import { formatTime } from '../../lib/format';
import { useInterval, useLoad } from '../../lib/hooks';
import { can } from '../../lib/roles';
import { currentMe } from '../../lib/session';
import type { PageProps } from '../../routes';
import { DeployTabs, fmtNum, VersionRef } from './bits';
import '../projects/projects.css';
import './deploy.css';

const FIELDS = ['datasets', 'feedback_version_id', 'feedback_tags', 'project_id', 'params', 'reviews_to_train', 'policy', 'metric', 'margin'];

/** The form field an API message is about: "datasets.train: ...", "policy must ...", "... needs the project_id ...". */
export function pipelineField(msg: string): string | null {
  const lead = /^([a-z_]+)/.exec(msg);
  if (lead && FIELDS.includes(lead[1])) return lead[1];
  for (const f of FIELDS) if (new RegExp(`\\b${f}\\b`).test(msg)) return f;
  return null;
}

async function loadPipeline(id: number, signal: AbortSignal): Promise<Pipeline | null> {
  try {
    return await pipelineApi.get(id, signal);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404 && /no pipeline/.test(e.message)) return null;
    throw e;
  }
}

export function PipelinePage({ params }: PageProps) {
  const id = Number(params.id);
  const me = currentMe();
  const canWrite = can(me?.role, 'write');
  const dep = useLoad((s) => deploy.get(id, s), [id]);
  const pipe = useLoad((s) => loadPipeline(id, s), [id]);
  const runs = useLoad((s) => pipelineApi.runs(id, s), [id]);
  const [starting, setStarting] = useState(false);
  const active = (runs.data ?? []).some((r) => r.state === 'training' || r.state === 'published');
  useInterval(() => runs.reload(), 3000, active);
  const d = dep.data;
  const remove = async () => {
    const ok = await confirmDialog({
      title: 'Remove the pipeline?',
      message: 'Submitted reviews are no longer fed back, nothing trains or deploys. Its runs stay listed.',
      confirmLabel: 'Remove',
      danger: true,
    });
    if (!ok) return;
    try {
      await pipelineApi.remove(id);
      toast('Pipeline removed.', { kind: 'success' });
      pipe.setData(null);
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    }
  };
  const train = async () => {
    setStarting(true);
    try {
      const r = await pipelineApi.train(id);
      toast(`Pipeline run ${r.pipeline_run_id} started (job ${r.job_id}).`, { kind: 'success' });
      runs.reload();
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    } finally {
      setStarting(false);
    }
  };
  return (
    <div class="page">
      <PageHeader
        crumbs={[{ href: '/deployments', label: 'Deployments' }, ...(d ? [{ href: `/deployments/${id}`, label: d.name }] : [])]}
        title={d ? `${d.name}: pipeline` : 'Pipeline'}
        subtitle="Reviews fed back into a dataset version, continuous training from the champion, continuous deployment by policy."
        actions={
          canWrite &&
          pipe.data && (
            <>
              <button type="button" class="button" onClick={remove}>
                Remove pipeline…
              </button>
              <button type="button" class="button button-primary" onClick={train} disabled={starting}>
                {starting ? 'Starting…' : 'Train now'}
              </button>
            </>
          )
        }
      />
      <DeployTabs d={d} current="pipeline" />
      {dep.error && <ErrorBox message={dep.error} onRetry={dep.reload} />}
      {pipe.error && <ErrorBox message={pipe.error} onRetry={pipe.reload} />}
      {pipe.data !== undefined && (
        <div class="two-col dep-top">
          <section class="card" aria-labelledby="pipe-settings">
            <h2 id="pipe-settings">Settings</h2>
            {pipe.data === null && <p class="muted">No pipeline yet: reviews are not fed back and nothing trains. Set one up below.</p>}
            {canWrite ? (
              <PipelineForm key={pipe.data?.updated_at ?? 0} id={id} current={pipe.data} onSaved={(p) => pipe.setData(p)} />
            ) : (
              pipe.data && <PipelineFacts p={pipe.data} />
            )}
          </section>
          {pipe.data && (
            <section class="card" aria-labelledby="pipe-state">
              <h2 id="pipe-state">Feedback</h2>
              <dl class="facts" aria-label="Feedback counters">
                <dt>Fed back</dt>
                <dd>{pipe.data.fed_back}</dd>
                <dt>Skipped</dt>
                <dd>{pipe.data.skipped}</dd>
                <dt>Pending reviews</dt>
                <dd>
                  {pipe.data.pending_reviews}
                  {pipe.data.reviews_to_train > 0 ? ` of ${pipe.data.reviews_to_train} to start training` : ' (continuous training off)'}
                </dd>
              </dl>
              {pipe.data.note && (
                <p class="muted" role="status">
                  {pipe.data.note}
                </p>
              )}
            </section>
          )}
        </div>
      )}
      <section class="card" aria-labelledby="pipe-runs">
        <h2 id="pipe-runs">Runs</h2>
        {runs.error && <ErrorBox message={runs.error} onRetry={runs.reload} />}
        {runs.data && runs.data.length === 0 && <p class="muted">No run yet.</p>}
        {runs.data && runs.data.length > 0 && <RunsTable runs={runs.data} project={pipe.data?.project_id ?? null} />}
      </section>
    </div>
  );
}

function RunsTable({ runs, project }: { runs: PipelineRun[]; project: number | null }) {
  return (
    <table class="table" aria-label="Pipeline runs">
      <thead>
        <tr>
          <th>Run</th>
          <th>State</th>
          <th>Experiment</th>
          <th>Candidate</th>
          <th>Metric</th>
          <th>Reason</th>
          <th>Started</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => (
          <tr key={r.id}>
            <td>{r.id}</td>
            <td>
              <StateBadge state={r.state} />
            </td>
            <td>{r.experiment_id ? project ? <a href={`/projects/${project}/experiments/${r.experiment_id}`}>experiment {r.experiment_id}</a> : `experiment ${r.experiment_id}` : <span class="muted">—</span>}</td>
            <td>{r.version_id ? <VersionRef id={r.version_id} /> : <span class="muted">—</span>}</td>
            <td>
              {r.candidate_value !== null ? `${r.metric} ${fmtNum(r.candidate_value, 4)} vs ${fmtNum(r.champion_value, 4)}${r.test_images !== null ? ` on ${r.test_images} images` : ''}` : <span class="muted">{r.policy}</span>}
            </td>
            <td>{r.reason ?? ''}</td>
            <td>{formatTime(new Date(r.created_at).toISOString())}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function PipelineFacts({ p }: { p: Pipeline }) {
  return (
    <dl class="facts" aria-label="Pipeline settings">
      <dt>Dataset versions</dt>
      <dd>{datasetsText(p.datasets)}</dd>
      <dt>Feedback version</dt>
      <dd>
        {p.feedback_version_id} (tags {p.feedback_tags.join(', ') || 'none'})
      </dd>
      <dt>Project</dt>
      <dd>{p.project_id ? <a href={`/projects/${p.project_id}`}>project {p.project_id}</a> : <span class="muted">none</span>}</dd>
      <dt>Training parameters</dt>
      <dd>
        <code>{JSON.stringify(p.params)}</code>
      </dd>
      <dt>Reviews to train</dt>
      <dd>{p.reviews_to_train || 'never'}</dd>
      <dt>Policy</dt>
      <dd>{p.policy === 'champion' ? `champion, when ${p.metric} beats it by ${p.margin}` : p.policy}</dd>
    </dl>
  );
}

function datasetsText(d: Record<string, number> | undefined): string {
  return d ? Object.entries(d).map(([k, v]) => `${k}=${v}`).join(', ') : '';
}

function PipelineForm({ id, current, onSaved }: { id: number; current: Pipeline | null; onSaved: (p: Pipeline) => void }) {
  const form = useForm(
    {
      datasets: datasetsText(current?.datasets),
      feedback_version_id: current ? String(current.feedback_version_id) : '',
      feedback_tags: current ? current.feedback_tags.join(', ') : 'train',
      project_id: current?.project_id ? String(current.project_id) : '',
      params: current ? JSON.stringify(current.params) : '{"epochs": 5}',
      reviews_to_train: current ? String(current.reviews_to_train) : '0',
      policy: current?.policy ?? 'manual',
      metric: current?.metric ?? 'accuracy',
      margin: current ? String(current.margin) : '0',
    },
    async (v) => {
      const local = (field: string, message: string) => new ApiError(400, 'invalid', `${field}: ${message}`);
      const datasets: Record<string, number> = {};
      for (const part of v.datasets.split(/[,\s]+/).filter(Boolean)) {
        const m = /^([A-Za-z0-9_-]+)=(\d+)$/.exec(part);
        if (!m) throw local('datasets', `'${part}' is not alias=version id (e.g. train=12, test=13).`);
        datasets[m[1]] = Number(m[2]);
      }
      const body: PipelineBody = { datasets };
      const int = (name: string, s: string): number | undefined => {
        if (!s.trim()) return undefined;
        if (!/^\d+$/.test(s.trim())) throw local(name, `must be a whole number, got '${s.trim()}'.`);
        return Number(s.trim());
      };
      body.feedback_version_id = int('feedback_version_id', v.feedback_version_id);
      body.project_id = int('project_id', v.project_id);
      body.reviews_to_train = int('reviews_to_train', v.reviews_to_train);
      body.feedback_tags = v.feedback_tags.split(',').map((t) => t.trim()).filter(Boolean);
      if (v.params.trim()) {
        let p: unknown;
        try {
          p = JSON.parse(v.params);
        } catch (e) {
          throw local('params', `is not JSON (${(e as Error).message}); write an object like {"epochs": 5}.`);
        }
        if (!p || typeof p !== 'object' || Array.isArray(p)) throw local('params', 'must be a JSON object like {"epochs": 5}.');
        body.params = p as Record<string, unknown>;
      }
      body.policy = v.policy;
      body.metric = v.metric;
      if (v.margin.trim()) {
        const m = Number(v.margin);
        if (!Number.isFinite(m)) throw local('margin', `must be a number from -1 to 1, got '${v.margin}'.`);
        body.margin = m;
      }
      const p = await pipelineApi.set(id, body);
      toast('Pipeline saved.', { kind: 'success' });
      onSaved(p);
    },
    { required: ['datasets'], fieldOf: pipelineField },
  );
  return (
    <form onSubmit={form.onSubmit} noValidate aria-label="Pipeline settings">
      <TextField form={form} name="datasets" label="Dataset versions by alias" hint="alias=dataset version id, comma-separated; train is required (train=12, test=13)" />
      <div class="form-row">
        <TextField form={form} name="feedback_version_id" label="Feedback version" hint="Dataset version id reviews go to (default: the train version); a dataset of the deployment's datalake" />
        <TextField form={form} name="feedback_tags" label="Feedback tags" hint="Tags of fed-back images, comma-separated" />
      </div>
      <div class="form-row">
        <TextField form={form} name="project_id" label="Project" hint="Project id where training experiments go (needed for continuous training)" />
        <TextField form={form} name="reviews_to_train" label="Reviews to train" hint="New fed-back reviews that start training; 0: never" />
      </div>
      <Field label="Training parameters" error={form.errors.params} hint='JSON, checked like a launch: {"epochs": 5}'>
        {(a) => <textarea {...a} name="params" rows={3} value={form.values.params} onInput={(e) => form.set('params', (e.target as HTMLTextAreaElement).value)} />}
      </Field>
      <div class="form-row">
        <SelectField
          form={form}
          name="policy"
          label="Policy"
          options={[
            { value: 'manual', label: 'manual: a person promotes' },
            { value: 'shadow', label: 'shadow: deploy as shadow' },
            { value: 'champion', label: 'champion: when it beats the champion' },
          ]}
        />
        <SelectField form={form} name="metric" label="Metric" options={[{ value: 'accuracy', label: 'accuracy' }, { value: 'macro_f1', label: 'macro F1' }]} hint="Policy champion only" />
        <TextField form={form} name="margin" label="Margin" hint="-1 to 1; policy champion only" />
      </div>
      <FormError message={form.formError} />
      <div class="dialog-actions">
        <button type="submit" class="button button-primary" disabled={form.submitting}>
          {form.submitting ? 'Saving…' : current ? 'Save pipeline' : 'Create pipeline'}
        </button>
      </div>
    </form>
  );
}
