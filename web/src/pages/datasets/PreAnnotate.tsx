/*
 * PreAnnotate.tsx - the "Pre-annotate…" dialog of a dataset version
 * (POST /dataset-versions/{id}/pre-annotate, docs/processings.md): the model
 * (an experiment's checkpoint or a registry model version), thresholds, the
 * images (a query), replace pending; then the job's progress and, when it
 * ends, what it wrote and the version's pending annotations count.
 */
import { useRef, useState } from 'preact/hooks';
import { Dialog } from '../../components/Dialog';
import { Field, FormError, SelectField, TextField, useForm } from '../../components/Form';
import { api } from '../../lib/api';
import { versions, type Version } from '../../lib/datasets';
import { useLoad } from '../../lib/hooks';
import { startedJob } from '../../lib/jobs';
import type { Run } from '../../lib/processing';
import { allVersionChoices } from '../../lib/registry';
import type { Job } from '../../lib/types';
import { JobProgress, useJob } from './JobFollow';

interface PreannResult {
  images?: number;
  annotated?: number;
  shapes?: number;
  without_detections?: number;
  kept_reviewed?: number;
  kept_pending?: number;
  labels_created?: { name: string }[];
  model_kind?: string;
}

export function PreAnnotateDialog({ version, q, onClose, onDone }: { version: Version; q: string; onClose: () => void; onDone: () => void }) {
  const [started, setStarted] = useState<Job | null>(null);
  const job = useJob(started);
  return (
    <Dialog open title={`Pre-annotate ${version.dataset} / ${version.name}`} onClose={onClose} wide>
      {!job ? <PreAnnotateForm version={version} q={q} onClose={onClose} onStarted={setStarted} /> : <Follow job={job} version={version} onClose={onClose} onDone={onDone} />}
    </Dialog>
  );
}

function PreAnnotateForm({ version, q, onClose, onStarted }: { version: Version; q: string; onClose: () => void; onStarted: (j: Job) => void }) {
  const models = useLoad((s) => allVersionChoices(s), []);
  // where an error about the model goes: the field shown for it
  const source = useRef('model_version_id');
  const form = useForm(
    { source: 'model_version_id', model_version_id: '', experiment_id: '', score_threshold: '0.25', nms_threshold: '0.6', max_detections: '100', query: q, replace_pending: 'false' },
    async (v) => {
      const body: Record<string, unknown> = { replace_pending: v.replace_pending === 'true' };
      const num = (s: string) => (s.trim() === '' ? undefined : Number(s.trim()));
      if (v.source === 'experiment_id') body.experiment_id = num(v.experiment_id);
      else body.model_version_id = num(v.model_version_id);
      for (const k of ['score_threshold', 'nms_threshold', 'max_detections'] as const) if (v[k].trim()) body[k] = Number.isFinite(Number(v[k])) ? Number(v[k]) : v[k];
      if (v.query.trim()) body.query = v.query.trim();
      const run = await api.post<Run>(`/dataset-versions/${version.id}/pre-annotate`, body);
      const j = await api.get<Job>(`/jobs/${run.job_id}`);
      startedJob(j);
      onStarted(j);
    },
    {
      fieldOf: (m) => {
        if (/^experiment \d+|^give the model|experiment_id|model_version_id|^model version \d+/.test(m)) return source.current;
        const f = /^(score_threshold|nms_threshold|max_detections|query)\b/.exec(m);
        return f ? f[1] : null;
      },
    },
  );
  source.current = form.values.source;
  const byExperiment = form.values.source === 'experiment_id';
  return (
    <form onSubmit={form.onSubmit} noValidate aria-label="Pre-annotate">
      <p class="muted">
        The model's predictions become <strong>pending</strong> annotations with their scores, for a person to review. Accepted, rejected and skipped annotations are never touched.
      </p>
      <SelectField
        form={form}
        name="source"
        label="Model from"
        options={[
          { value: 'model_version_id', label: 'a registry model version' },
          { value: 'experiment_id', label: "an experiment's checkpoint" },
        ]}
      />
      {byExperiment ? (
        <TextField form={form} name="experiment_id" label="Experiment" hint="Experiment id; its checkpoint artifact (model.safetensors, checkpoints/best.safetensors…)" />
      ) : (
        <SelectField
          form={form}
          name="model_version_id"
          label="Model version"
          options={[{ value: '', label: models.loading ? 'Loading the registry…' : 'choose a model version' }, ...(models.data ?? []).map((m) => ({ value: String(m.id), label: m.label }))]}
        />
      )}
      <div class="form-row">
        <TextField form={form} name="score_threshold" label="Score threshold" hint="0 to 1; lower-scoring predictions are dropped" />
        <TextField form={form} name="nms_threshold" label="NMS threshold" hint="0.05 to 1; overlap above which the weaker box of a class is dropped" />
        <TextField form={form} name="max_detections" label="Max detections" hint="Per image, 1 to 1000" />
      </div>
      <TextField form={form} name="query" label="Images" hint="A query on the version's images (empty: all); only those without a reviewed annotation are pre-annotated" placeholder="e.g. tag = 'new'" />
      <Field label="Replace pending shapes">
        {(a) => (
          <input
            {...a}
            type="checkbox"
            name="replace_pending"
            checked={form.values.replace_pending === 'true'}
            onChange={(e) => form.set('replace_pending', (e.target as HTMLInputElement).checked ? 'true' : 'false')}
          />
        )}
      </Field>
      <FormError message={form.formError} />
      <div class="dialog-actions">
        <button type="button" class="button" onClick={onClose}>
          Cancel
        </button>
        <button type="submit" class="button button-primary" disabled={form.submitting}>
          {form.submitting ? 'Starting…' : 'Pre-annotate'}
        </button>
      </div>
    </form>
  );
}

function Follow({ job, version, onClose, onDone }: { job: Job; version: Version; onClose: () => void; onDone: () => void }) {
  const done = job.state === 'succeeded';
  const stats = useLoad((s) => (done ? versions.stats(version.id, s) : Promise.resolve(null)), [done, version.id]);
  const res = done ? ((job.result ?? {}) as PreannResult) : null;
  return (
    <div>
      <JobProgress job={job} label="Pre-annotation">
        {res && (
          <p data-testid="preann-result">
            {res.annotated ?? 0} image{res.annotated === 1 ? '' : 's'} pre-annotated with {res.shapes ?? 0} shape{res.shapes === 1 ? '' : 's'} ({res.model_kind ?? 'model'}); {res.without_detections ?? 0} without a detection; {res.kept_reviewed ?? 0} reviewed kept.
            {res.labels_created?.length ? ` Labels created: ${res.labels_created.map((l) => l.name).join(', ')}.` : ''}
          </p>
        )}
        {stats.data && (
          <p data-testid="preann-pending">
            <strong>{stats.data.status.pending ?? 0}</strong> pending annotation{stats.data.status.pending === 1 ? '' : 's'} to review in this version.
          </p>
        )}
      </JobProgress>
      <div class="dialog-actions">
        <button
          type="button"
          class="button button-primary"
          onClick={() => {
            if (done) onDone();
            onClose();
          }}
        >
          Close
        </button>
      </div>
    </div>
  );
}
