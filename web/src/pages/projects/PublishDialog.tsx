/*
 * PublishDialog.tsx - "Publish as model…" on the experiment page: the
 * experiment's artifacts become a new version of a registry model (created
 * if new), with its lineage (POST /experiments/{id}/publish). The new
 * version's page opens.
 */
import { Dialog } from '../../components/Dialog';
import { FormError, SelectField, TextField, useForm } from '../../components/Form';
import { toast } from '../../components/Toasts';
import { useLoad } from '../../lib/hooks';
import { registry, type ModelVersion } from '../../lib/registry';
import { navigate } from '../../lib/router';
import type { Experiment } from '../../lib/tracking';
import { api } from '../../lib/api';

const FRAMEWORKS = ['cvops', 'onnx', 'pytorch', 'tensorflow', 'other'];

export function PublishDialog(props: { open: boolean; e: Experiment; onClose: () => void }) {
  return (
    <Dialog open={props.open} title="Publish as model" onClose={props.onClose}>
      {props.open && <PublishForm {...props} />}
    </Dialog>
  );
}

function PublishForm({ e, onClose }: { e: Experiment; onClose: () => void }) {
  const models = useLoad((s) => registry.models('', s), []);
  const form = useForm(
    { model: e.name, labels: '', framework: 'cvops' },
    async (v) => {
      const labels = v.labels
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const mv = await api.post<ModelVersion>(`/experiments/${e.id}/publish`, { model: v.model.trim(), framework: v.framework, ...(labels.length ? { labels } : {}) });
      toast(`Published as ${mv.model} v${mv.version}.`, { kind: 'success' });
      onClose();
      navigate(`/models/${mv.model_id}/versions/${mv.version}`);
    },
    { required: ['model'] },
  );
  const existing = (models.data ?? []).find((m) => m.name === form.values.model.trim());
  return (
    <form onSubmit={form.onSubmit} noValidate>
      <p class="muted">The experiment's artifacts become the files of a new model version, which keeps this experiment, its dataset versions and parameters as its lineage.</p>
      <TextField
        form={form}
        name="model"
        label="Model"
        autofocus
        list="publish-models"
        hint={existing ? `A new version of ${existing.name} (now ${existing.versions} version${existing.versions === 1 ? '' : 's'}).` : 'A new model of this name is created.'}
      />
      <datalist id="publish-models">
        {(models.data ?? []).map((m) => (
          <option key={m.id} value={m.name} />
        ))}
      </datalist>
      <TextField form={form} name="labels" label="Labels (optional)" hint="Class names in output order, comma-separated; empty: taken from the trained model when it has them." />
      <SelectField form={form} name="framework" label="Framework" options={FRAMEWORKS.map((f) => ({ value: f, label: f === 'cvops' ? 'cvops (served by the platform)' : `${f} (stored for download)` }))} />
      <FormError message={form.formError} />
      <div class="dialog-actions">
        <button type="button" class="button" onClick={onClose}>
          Cancel
        </button>
        <button type="submit" class="button button-primary" disabled={form.submitting}>
          {form.submitting ? 'Publishing…' : 'Publish'}
        </button>
      </div>
    </form>
  );
}
