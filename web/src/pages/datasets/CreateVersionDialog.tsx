/*
 * CreateVersionDialog.tsx - from the Datalake page: put the selection
 * (ids) or every match of the query into a dataset version: a new dataset,
 * a new version of an existing one, or an existing unlocked version.
 * A file of its own so the Datalake's chunk does not carry the Datasets
 * section's dialogs.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { Dialog } from '../../components/Dialog';
import { FormError, SelectField, TextField, useForm } from '../../components/Form';
import { toast } from '../../components/Toasts';
import { datasets, plural, TASKS, versions, type Task, type Version } from '../../lib/datasets';
import { useLoad } from '../../lib/hooks';
import type { Datalake } from '../../lib/types';

const TASK_OPTIONS = TASKS.map((t) => ({ value: t, label: t }));

export function CreateVersionDialog(p: { lake: Datalake; describe: string; selector: { data_ids: number[] } | { q: string }; onClose: () => void; onDone: (v: Version) => void }) {
  const all = useLoad((signal) => datasets.list(signal), []);
  const mine = useMemo(() => (all.data ?? []).filter((d) => d.datalake_id === p.lake.id), [all.data]);
  const [dsChoice, setDsChoice] = useState<string>('new');
  useEffect(() => {
    if (mine.length && dsChoice === 'new' && !all.loading) setDsChoice(String(mine[0].id));
  }, [mine.length]);
  const dsId = Number(dsChoice) || 0;
  const vers = useLoad((signal) => (dsId ? datasets.versions(dsId, signal) : Promise.resolve([] as Version[])), [dsId]);
  const [vChoice, setVChoice] = useState('new');
  const form = useForm(
    { dataset: '', version: 'v1', task: 'detection' },
    async (v) => {
      let ds = dsId;
      if (!ds) {
        if (!v.dataset.trim()) throw new Error("field 'dataset' is required: name the new dataset");
        ds = (await datasets.create({ name: v.dataset.trim(), datalake_id: p.lake.id })).id;
      }
      let ver: Version;
      if (vChoice !== 'new' && dsId) ver = (vers.data ?? []).find((x) => x.id === Number(vChoice))!;
      else {
        if (!v.version.trim()) throw new Error("field 'version' is required: name the new version");
        ver = await datasets.createVersion(ds, { name: v.version.trim(), task: v.task as Task });
      }
      const r = await versions.addAssets(ver.id, p.selector);
      toast(`Added ${plural(r.added, 'image')} to ${ver.dataset} / ${ver.name}${r.already_there ? ` (${r.already_there.toLocaleString()} were there already)` : ''}.`, {
        kind: 'success',
        link: { href: `/datasets/${ver.dataset_id}/versions/${ver.id}`, label: 'Open version' },
      });
      p.onClose();
      p.onDone(ver);
    },
  );
  /* a new version of an existing dataset: the first free name v1, v2, ... */
  useEffect(() => {
    const taken = new Set((vers.data ?? []).map((x) => x.name));
    let n = 1;
    while (taken.has(`v${n}`)) n++;
    form.set('version', `v${n}`);
  }, [vers.data]);
  const writable = (vers.data ?? []).filter((x) => !x.locked);
  return (
    <Dialog open title="Create a dataset version" onClose={p.onClose}>
      <form onSubmit={form.onSubmit} noValidate aria-label="Create a dataset version">
        <p>
          Put <strong>{p.describe}</strong> into a dataset version. Images are referenced, not copied.
        </p>
        <label class="field">
          <span>Dataset</span>
          <select value={dsChoice} onChange={(e) => { setDsChoice((e.target as HTMLSelectElement).value); setVChoice('new'); }} aria-label="Dataset">
            {mine.map((d) => (
              <option key={d.id} value={String(d.id)}>
                {d.name}
              </option>
            ))}
            <option value="new">New dataset…</option>
          </select>
        </label>
        {!dsId && <TextField form={form} name="dataset" label="New dataset name" autofocus />}
        {dsId > 0 && (
          <label class="field">
            <span>Version</span>
            <select value={vChoice} onChange={(e) => setVChoice((e.target as HTMLSelectElement).value)} aria-label="Version">
              <option value="new">New version…</option>
              {writable.map((x) => (
                <option key={x.id} value={String(x.id)}>
                  add to {x.name} ({plural(x.assets, 'image')})
                </option>
              ))}
            </select>
          </label>
        )}
        {(vChoice === 'new' || !dsId) && (
          <div class="form-row form-row-2">
            <TextField form={form} name="version" label="New version name" />
            <SelectField form={form} name="task" label="Task" options={TASK_OPTIONS} />
          </div>
        )}
        <FormError message={form.formError} />
        <div class="dialog-actions">
          <button type="button" class="button" onClick={p.onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={form.submitting}>
            {vChoice === 'new' || !dsId ? 'Create version' : 'Add images'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
