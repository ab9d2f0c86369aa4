/*
 * dialogs.tsx - create a deployment, change one's settings (champion,
 * shadow, sampling, minimum score: PATCH; a champion change emits
 * deployment.model_changed), add an alert rule.
 */
import { Dialog } from '../../components/Dialog';
import { FormError, SelectField, TextField, useForm } from '../../components/Form';
import { toast } from '../../components/Toasts';
import { lakes } from '../../lib/datalake';
import { ALERT_METRICS, deployWrite, type Deployment, type DeploymentBody } from '../../lib/deploy';
import { useLoad } from '../../lib/hooks';
import { allVersionChoices } from '../../lib/registry';

function fraction(name: string, v: string, errs: Record<string, string>): number | undefined {
  const t = v.trim();
  if (!t) return undefined;
  const n = Number(t);
  if (!Number.isFinite(n) || n < 0 || n > 1) errs[name] = `${name} must be a number from 0 to 1, got '${t}'.`;
  return n;
}

export function DeploymentDialog(props: { open: boolean; current?: Deployment; champion?: number; onClose: () => void; onSaved: (d: Deployment) => void }) {
  return (
    <Dialog open={props.open} title={props.current ? `Settings of ${props.current.name}` : 'New deployment'} onClose={props.onClose}>
      {props.open && <DeploymentForm {...props} />}
    </Dialog>
  );
}

function DeploymentForm({ current, champion, onClose, onSaved }: { current?: Deployment; champion?: number; onClose: () => void; onSaved: (d: Deployment) => void }) {
  const versions = useLoad((s) => allVersionChoices(s), []);
  const lakeList = useLoad((s) => lakes.list(s), []);
  const form = useForm(
    {
      name: current?.name ?? '',
      mode: current?.mode ?? 'serve',
      champion: current?.champion_version_id ? String(current.champion_version_id) : champion ? String(champion) : '',
      shadow: current?.shadow_version_id ? String(current.shadow_version_id) : '',
      datalake: current?.datalake_id ? String(current.datalake_id) : '',
      sample_rate: current ? String(current.sample_rate) : '0.1',
      min_score: current ? String(current.min_score) : '0',
    },
    async (v) => {
      const errs: Record<string, string> = {};
      const rate = fraction('sample_rate', v.sample_rate, errs);
      const min = fraction('min_score', v.min_score, errs);
      const first = Object.keys(errs)[0];
      if (first) throw new Error(errs[first]);
      const body: DeploymentBody = {
        champion_version_id: v.champion ? Number(v.champion) : undefined,
        sample_rate: rate,
        min_score: min,
      };
      let d: Deployment;
      if (current) {
        if (String(current.shadow_version_id ?? '') !== v.shadow) body.shadow_version_id = v.shadow ? Number(v.shadow) : null;
        d = await deployWrite.update(current.id, body);
        toast('Settings saved.', { kind: 'success' });
      } else {
        if (v.shadow) body.shadow_version_id = Number(v.shadow);
        d = await deployWrite.create({ ...body, name: v.name.trim(), mode: v.mode as 'serve' | 'monitor', datalake_id: v.datalake ? Number(v.datalake) : undefined });
        toast(`Deployment ${d.name} created.`, { kind: 'success' });
      }
      onSaved(d);
    },
    { required: current ? [] : ['name'] },
  );
  const vopts = [{ value: '', label: 'none' }, ...(versions.data ?? []).map((x) => ({ value: String(x.id), label: x.label }))];
  return (
    <form onSubmit={form.onSubmit} noValidate>
      {!current && <TextField form={form} name="name" label="Name" autofocus />}
      {!current && (
        <SelectField
          form={form}
          name="mode"
          label="Mode"
          options={[
            { value: 'serve', label: 'serve: cvops runs the champion (POST …/predict)' },
            { value: 'monitor', label: 'monitor: the model runs elsewhere and reports (POST …/predictions)' },
          ]}
        />
      )}
      <SelectField form={form} name="champion" label="Champion" options={vopts} hint={versions.loading ? 'Loading the registry…' : 'The model version that answers.'} />
      <SelectField form={form} name="shadow" label="Shadow" options={vopts} hint="Runs on the same images after the answer, never changing it; its agreement is on the dashboard." />
      {!current && <SelectField form={form} name="datalake" label="Datalake for incoming images" options={[{ value: '', label: 'none' }, ...(lakeList.data ?? []).map((l) => ({ value: String(l.id), label: l.name }))]} />}
      <div class="form-row">
        <TextField form={form} name="sample_rate" label="Sampling rate" hint="Share of images stored, 0 to 1" />
        <TextField form={form} name="min_score" label="Minimum score" hint="Boxes below it are dropped, 0 to 1" />
      </div>
      <FormError message={form.formError} />
      <div class="dialog-actions">
        <button type="button" class="button" onClick={onClose}>
          Cancel
        </button>
        <button type="submit" class="button button-primary" disabled={form.submitting}>
          {form.submitting ? 'Saving…' : current ? 'Save settings' : 'Create deployment'}
        </button>
      </div>
    </form>
  );
}

export function AlertDialog(props: { open: boolean; deployment: number; onClose: () => void; onSaved: () => void }) {
  return (
    <Dialog open={props.open} title="Add an alert rule" onClose={props.onClose}>
      {props.open && <AlertForm {...props} />}
    </Dialog>
  );
}

function AlertForm({ deployment, onClose, onSaved }: { deployment: number; onClose: () => void; onSaved: () => void }) {
  const form = useForm(
    { name: '', metric: 'latency_p99', op: '>', threshold: '', window_minutes: '5' },
    async (v) => {
      const threshold = Number(v.threshold);
      if (!Number.isFinite(threshold)) throw new Error(`threshold must be a number, got '${v.threshold}'.`);
      const w = Number(v.window_minutes);
      if (!Number.isInteger(w) || w < 1 || w > 1440) throw new Error(`window_minutes must be a whole number from 1 to 1440, got '${v.window_minutes}'.`);
      await deployWrite.addAlert(deployment, { name: v.name.trim(), metric: v.metric, op: v.op, threshold, window_minutes: w });
      toast(`Alert rule ${v.name.trim()} added.`, { kind: 'success' });
      onSaved();
    },
    { required: ['name', 'threshold'] },
  );
  return (
    <form onSubmit={form.onSubmit} noValidate>
      <TextField form={form} name="name" label="Name" autofocus />
      <div class="form-row">
        <SelectField form={form} name="metric" label="Metric" options={ALERT_METRICS.map((m) => ({ value: m, label: m }))} />
        <SelectField form={form} name="op" label="Fires when" options={[{ value: '>', label: 'above' }, { value: '<', label: 'below' }]} />
        <TextField form={form} name="threshold" label="Threshold" hint="ms for latencies, a share for error_rate, requests for count" />
      </div>
      <TextField form={form} name="window_minutes" label="Window (minutes)" hint="1 to 1440: the metric over the last N minutes" />
      <FormError message={form.formError} />
      <div class="dialog-actions">
        <button type="button" class="button" onClick={onClose}>
          Cancel
        </button>
        <button type="submit" class="button button-primary" disabled={form.submitting}>
          {form.submitting ? 'Adding…' : 'Add rule'}
        </button>
      </div>
    </form>
  );
}
