/*
 * dialogs.tsx - the dialogs of the Datasets section: new dataset, new
 * version, fork, split, labels, add images, import and export.
 *
 * Each one is a form over one API call, with the API's errors placed by
 * useForm. Import and export start a job and follow it in the dialog
 * (JobFollow.tsx) until it ends: the export then offers its file
 * (GET /files/{sha256}?filename=) for download, the import its report.
 */
import { useEffect, useState } from 'preact/hooks';
import { Dialog } from '../../components/Dialog';
import { Field, FormError, SelectField, TextField, useForm } from '../../components/Form';
import { QueryBar } from '../../components/QueryBar';
import { ErrorBox } from '../../components/Table';
import { toast } from '../../components/Toasts';
import { errorMessage, isAbort } from '../../lib/api';
import { lakes } from '../../lib/datalake';
import {
  datasets,
  FORMATS,
  labelsApi,
  plural,
  TASKS,
  uploadFile,
  versions,
  type Dataset,
  type ExportFormat,
  type ExportResult,
  type ImportProblem,
  type Label,
  type SplitAnswer,
  type Task,
  type Version,
} from '../../lib/datasets';
import { formatBytes } from '../../lib/format';
import { useLoad } from '../../lib/hooks';
import { can } from '../../lib/roles';
import { currentMe } from '../../lib/session';
import { startedJob } from '../../lib/jobs';
import type { Datalake, Job } from '../../lib/types';
import { JobProgress, useJob } from './JobFollow';

const TASK_OPTIONS = TASKS.map((t) => ({ value: t, label: t }));

/* --- new dataset ------------------------------------------------------------------------------------- */

export function NewDatasetDialog({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: (d: Dataset, v: Version) => void }) {
  const lakeList = useLoad((signal) => (open ? lakes.list(signal) : Promise.resolve([] as Datalake[])), [open]);
  const form = useForm(
    { name: '', description: '', datalake: '', version: 'v1', task: 'detection' },
    async (v) => {
      const lake = Number(v.datalake) || lakeList.data?.[0]?.id;
      const d = await datasets.create({ name: v.name.trim(), description: v.description.trim() || undefined, datalake_id: lake });
      const ver = await datasets.createVersion(d.id, { name: v.version.trim() || 'v1', task: v.task as Task });
      toast(`Dataset “${d.name}” created with version “${ver.name}”.`, { kind: 'success' });
      form.reset();
      onClose();
      onCreated(d, ver);
    },
    { required: ['name'] },
  );
  return (
    <Dialog open={open} title="New dataset" onClose={onClose}>
      <form onSubmit={form.onSubmit} noValidate aria-label="New dataset">
        <p class="muted">A dataset is built from the images of one datalake (references, not copies) and annotated in versions.</p>
        <TextField form={form} name="name" label="Name" autofocus hint="Unique in the organization." />
        <TextField form={form} name="description" label="Description" />
        <SelectField form={form} name="datalake" label="Datalake" options={(lakeList.data ?? []).map((l) => ({ value: String(l.id), label: `${l.name} (${l.count.toLocaleString()} images)` }))} />
        <div class="form-row form-row-2">
          <TextField form={form} name="version" label="First version" />
          <SelectField form={form} name="task" label="Task" options={TASK_OPTIONS} />
        </div>
        <FormError message={form.formError} />
        <div class="dialog-actions">
          <button type="button" class="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={form.submitting}>
            Create dataset
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/* --- new version -------------------------------------------------------------------------------------- */

export function NewVersionDialog({ dataset, open, onClose, onCreated }: { dataset: Dataset; open: boolean; onClose: () => void; onCreated: (v: Version) => void }) {
  const form = useForm(
    { name: '', description: '', task: 'detection' },
    async (v) => {
      const ver = await datasets.createVersion(dataset.id, { name: v.name.trim(), description: v.description.trim() || undefined, task: v.task as Task });
      toast(`Version “${ver.name}” created.`, { kind: 'success' });
      form.reset();
      onClose();
      onCreated(ver);
    },
    { required: ['name'] },
  );
  return (
    <Dialog open={open} title="New version" onClose={onClose}>
      <form onSubmit={form.onSubmit} noValidate aria-label="New version">
        <p class="muted">An empty version of “{dataset.name}”. To start from an existing version, fork it instead.</p>
        <TextField form={form} name="name" label="Name" autofocus />
        <TextField form={form} name="description" label="Description" />
        <SelectField form={form} name="task" label="Task" options={TASK_OPTIONS} />
        <FormError message={form.formError} />
        <div class="dialog-actions">
          <button type="button" class="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={form.submitting}>
            Create version
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/* --- fork ----------------------------------------------------------------------------------------------- */

export function ForkDialog({ version, q, onClose, onForked }: { version: Version; q: string; onClose: () => void; onForked: (v: Version) => void }) {
  const [opts, setOpts] = useState({ labels: true, annotations: true, tags: true, filtered: false });
  const form = useForm(
    { name: nextName(version.name), description: '' },
    async (v) => {
      const f = await versions.fork(version.id, {
        name: v.name.trim(),
        description: v.description.trim() || undefined,
        labels: opts.labels || opts.annotations,
        annotations: opts.annotations,
        tags: opts.tags,
        q: opts.filtered && q ? q : undefined,
      });
      toast(`Forked “${version.name}” into “${f.name}” (${plural(f.assets, 'image')}).`, { kind: 'success' });
      onClose();
      onForked(f);
    },
    { required: ['name'] },
  );
  const check = (k: keyof typeof opts, label: string, hint?: string) => (
    <label class="check">
      <input type="checkbox" checked={opts[k]} disabled={k === 'labels' && opts.annotations} onChange={(e) => setOpts({ ...opts, [k]: (e.target as HTMLInputElement).checked })} />
      <span>
        {label}
        {hint && <span class="muted"> — {hint}</span>}
      </span>
    </label>
  );
  return (
    <Dialog open title={`Fork ${version.dataset} / ${version.name}`} onClose={onClose}>
      <form onSubmit={form.onSubmit} noValidate aria-label="Fork version">
        <p class="muted">A new version with the same images (references, nothing is copied). Forking is how a locked version is changed.</p>
        <TextField form={form} name="name" label="New version name" autofocus />
        <TextField form={form} name="description" label="Description" />
        <fieldset class="checks">
          <legend>Copy</legend>
          {check('annotations', 'Annotations', 'as revision 1 of each')}
          {check('labels', 'Labels', opts.annotations ? 'needed by the annotations' : undefined)}
          {check('tags', 'Asset tags and splits')}
          {q && check('filtered', 'Only the images matching the current filter', q)}
        </fieldset>
        <FormError message={form.formError} />
        <div class="dialog-actions">
          <button type="button" class="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={form.submitting}>
            Fork
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** "v2" after "v1", "draft-3" after "draft-2", else name + "-fork". */
function nextName(name: string): string {
  const m = /^(.*?)(\d+)$/.exec(name);
  return m ? `${m[1]}${Number(m[2]) + 1}` : `${name}-fork`;
}

/* --- split ------------------------------------------------------------------------------------------------ */

interface Part {
  name: string;
  ratio: string;
}

export function SplitDialog({ version, q, onClose, onDone }: { version: Version; q: string; onClose: () => void; onDone: () => void }) {
  const [parts, setParts] = useState<Part[]>([
    { name: 'train', ratio: '0.8' },
    { name: 'val', ratio: '0.1' },
    { name: 'test', ratio: '0.1' },
  ]);
  const [seed, setSeed] = useState('42');
  const [filtered, setFiltered] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [answer, setAnswer] = useState<SplitAnswer | null>(null);
  const total = parts.reduce((s, p) => s + (Number(p.ratio) || 0), 0);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const ratios: Record<string, number> = {};
    for (const p of parts) {
      const r = Number(p.ratio);
      if (!p.name.trim()) return setError('Every part needs a name (it becomes the asset tag).');
      if (!(r > 0)) return setError(`The ratio of “${p.name}” must be a positive number.`);
      ratios[p.name.trim()] = r;
    }
    setBusy(true);
    try {
      const a = await versions.split(version.id, { ratios, seed: Number(seed) || 0, q: filtered && q ? q : undefined });
      setAnswer(a);
      onDone();
    } catch (x) {
      setError(errorMessage(x));
    } finally {
      setBusy(false);
    }
  };
  const labelNames = answer ? Object.keys(answer.labels) : [];
  return (
    <Dialog open title={`Split ${version.name}`} onClose={onClose} wide>
      {!answer ? (
        <form onSubmit={submit} noValidate aria-label="Split">
          <p class="muted">
            Each image goes to one part, stored as an asset tag (replacing those tags). The split is stratified: every part gets close to its share of each label, rare labels
            included. The same seed gives the same split.
          </p>
          <table class="split-parts">
            <thead>
              <tr>
                <th scope="col">Part (tag)</th>
                <th scope="col">Ratio</th>
                <th scope="col" class="num">Share</th>
                <th scope="col">
                  <span class="sr-only">Remove</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {parts.map((p, i) => (
                <tr key={i}>
                  <td>
                    <input aria-label={`Part ${i + 1} name`} value={p.name} onInput={(e) => setParts(parts.map((x, j) => (j === i ? { ...x, name: (e.target as HTMLInputElement).value } : x)))} />
                  </td>
                  <td>
                    <input aria-label={`Part ${i + 1} ratio`} inputMode="decimal" value={p.ratio} onInput={(e) => setParts(parts.map((x, j) => (j === i ? { ...x, ratio: (e.target as HTMLInputElement).value } : x)))} />
                  </td>
                  <td class="num">{total > 0 ? `${Math.round(((Number(p.ratio) || 0) / total) * 100)}%` : '—'}</td>
                  <td>
                    <button type="button" class="chip-x" aria-label={`Remove part ${p.name}`} disabled={parts.length <= 1} onClick={() => setParts(parts.filter((_, j) => j !== i))}>
                      ×
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <button type="button" class="button button-small" onClick={() => setParts([...parts, { name: `part${parts.length + 1}`, ratio: '0.1' }])}>
            Add a part
          </button>
          <div class="form-row form-row-2 split-opts">
            <label class="field">
              <span>Seed</span>
              <input inputMode="numeric" value={seed} onInput={(e) => setSeed((e.target as HTMLInputElement).value)} />
            </label>
            {q && (
              <label class="check">
                <input type="checkbox" checked={filtered} onChange={(e) => setFiltered((e.target as HTMLInputElement).checked)} />
                <span>
                  Only the images matching the filter <code>{q}</code>
                </span>
              </label>
            )}
          </div>
          <FormError message={error} />
          <div class="dialog-actions">
            <button type="button" class="button" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" class="button button-primary" disabled={busy || version.locked}>
              Split
            </button>
          </div>
        </form>
      ) : (
        <div data-testid="split-result">
          <p>
            {plural(answer.assets, 'image')} split (seed {answer.seed}).
          </p>
          <div class="table-wrap">
            <table class="table">
              <thead>
                <tr>
                  <th scope="col">Part</th>
                  <th scope="col" class="num">Images</th>
                  <th scope="col" class="num">Share (asked)</th>
                  {labelNames.map((l) => (
                    <th key={l} scope="col" class="num">
                      {l}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {answer.splits.map((s) => (
                  <tr key={s.name}>
                    <th scope="row">{s.name}</th>
                    <td class="num">{s.assets.toLocaleString()}</td>
                    <td class="num">
                      {(s.fraction * 100).toFixed(1)}% ({(s.ratio * 100).toFixed(0)}%)
                    </td>
                    {labelNames.map((l) => (
                      <td key={l} class="num">
                        {s.labels[l] ?? 0} / {answer.labels[l]}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div class="dialog-actions">
            <button type="button" class="button button-primary" onClick={onClose} autofocus>
              Done
            </button>
          </div>
        </div>
      )}
    </Dialog>
  );
}

/* --- labels --------------------------------------------------------------------------------------------------- */

/** "1-2, 1-3" or "1 2; 2 3" -> [[1,2],[1,3]]. */
export function parseSkeleton(s: string): [number, number][] | string {
  const out: [number, number][] = [];
  for (const part of s.split(/[,;\n]/).map((x) => x.trim()).filter(Boolean)) {
    const m = /^(\d+)\s*[-\s:]\s*(\d+)$/.exec(part);
    if (!m) return `“${part}” is not an edge; write edges as 1-2, 1-3 (vertex numbers from 1).`;
    out.push([Number(m[1]), Number(m[2])]);
  }
  return out;
}

export function LabelsDialog({ version, onClose, onChanged }: { version: Version; onClose: () => void; onChanged: () => void }) {
  const list = useLoad((signal) => versions.labels(version.id, signal), [version.id]);
  const role = currentMe()?.role;
  /* labels are a write (the API answers 403 otherwise): a viewer or labeler sees them, no form */
  const mayWrite = can(role, 'write');
  const readonly = version.locked || !mayWrite;
  const form = useForm(
    { name: '', color: '', group: '', keypoints: '', skeleton: '' },
    async (v) => {
      const kp = v.keypoints.split(',').map((x) => x.trim()).filter(Boolean);
      const sk = parseSkeleton(v.skeleton);
      if (typeof sk === 'string') throw new Error(sk);
      await versions.createLabel(version.id, {
        name: v.name.trim(),
        color: v.color || undefined,
        group: v.group.trim() || undefined,
        keypoints: kp.length ? kp : undefined,
        skeleton: sk.length ? sk : undefined,
      });
      form.reset();
      list.reload();
      onChanged();
    },
    { required: ['name'] },
  );
  const change = async (l: Label, body: Parameters<typeof labelsApi.update>[1]) => {
    try {
      await labelsApi.update(l.id, body);
      list.reload();
      onChanged();
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    }
  };
  const remove = async (l: Label) => {
    try {
      await labelsApi.remove(l.id);
      list.reload();
      onChanged();
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    }
  };
  return (
    <Dialog open title={`Labels of ${version.name}`} onClose={onClose} wide>
      {list.error && <ErrorBox message={list.error} onRetry={list.reload} />}
      <div class="table-wrap">
        <table class="table" data-testid="labels-table">
          <thead>
            <tr>
              <th scope="col">Colour</th>
              <th scope="col">Name</th>
              <th scope="col">Group</th>
              <th scope="col">Keypoints (skeleton)</th>
              <th scope="col" class="num">Objects</th>
              <th scope="col" class="num">Images</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {(list.data ?? []).map((l) => (
              <tr key={l.id}>
                <td>
                  <input type="color" class="color-input" value={l.color} disabled={readonly} aria-label={`Colour of ${l.name}`} onChange={(e) => void change(l, { color: (e.target as HTMLInputElement).value })} />
                </td>
                <td>{l.name}</td>
                <td>{l.group ?? <span class="muted">—</span>}</td>
                <td class="labels-kp">
                  {l.keypoints?.length ? (
                    <>
                      {l.keypoints.join(', ')}
                      {l.skeleton?.length ? <span class="muted"> ({l.skeleton.map((e) => e.join('-')).join(', ')})</span> : null}
                    </>
                  ) : (
                    <span class="muted">—</span>
                  )}
                </td>
                <td class="num">{l.objects.toLocaleString()}</td>
                <td class="num">{l.images.toLocaleString()}</td>
                <td class="col-actions">
                  {!readonly && (
                    <button type="button" class="button button-small button-danger-quiet" disabled={l.objects > 0} title={l.objects > 0 ? 'Shapes use this label' : undefined} onClick={() => void remove(l)}>
                      Delete
                    </button>
                  )}
                </td>
              </tr>
            ))}
            {list.data?.length === 0 && (
              <tr>
                <td colSpan={7} class="table-empty">
                  No labels yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {!readonly && (
        <form onSubmit={form.onSubmit} noValidate aria-label="New label" class="label-form">
          <h3>New label</h3>
          <div class="form-row">
            <TextField form={form} name="name" label="Name" />
            <TextField form={form} name="group" label="Group" hint="COCO supercategory" />
            <Field label="Colour" hint="Empty: a stable colour from the name">
              {(a) => <input {...a} type="color" class="color-input" value={form.values.color || '#3cb44b'} onInput={(e) => form.set('color', (e.target as HTMLInputElement).value)} />}
            </Field>
          </div>
          <div class="form-row form-row-2">
            <TextField form={form} name="keypoints" label="Keypoints" hint="For keypoint labels: names in order, comma-separated (nose, left_eye, …)" />
            <TextField form={form} name="skeleton" label="Skeleton" hint="Edges between keypoints, numbered from 1: 1-2, 1-3" />
          </div>
          <FormError message={form.formError} />
          <div class="dialog-actions">
            <button type="button" class="button" onClick={onClose}>
              Close
            </button>
            <button type="submit" class="button button-primary" disabled={form.submitting}>
              Add label
            </button>
          </div>
        </form>
      )}
      {readonly && (
        <p class="muted" data-testid="labels-readonly">
          {version.locked ? 'The version is locked: its labels cannot change.' : `Your role (${role ?? 'viewer'}) can see the labels but not change them; a member or an admin can.`}
        </p>
      )}
    </Dialog>
  );
}

/* --- add images from the datalake ------------------------------------------------------------------------------- */

export function AddImagesDialog({ version, dataset, onClose, onDone }: { version: Version; dataset: Dataset; onClose: () => void; onDone: () => void }) {
  const [q, setQ] = useState('');
  const [count, setCount] = useState<number | null>(null);
  const [error, setError] = useState<{ q: string; message: string } | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const ac = new AbortController();
    const t = window.setTimeout(() => {
      lakes.count(dataset.datalake_id, q.trim(), ac.signal).then(
        (n) => {
          setCount(n);
          setError(null);
        },
        (e) => {
          if (isAbort(e)) return;
          setCount(null);
          setError({ q, message: errorMessage(e) });
        },
      );
    }, 250);
    return () => {
      ac.abort();
      window.clearTimeout(t);
    };
  }, [q]);
  const add = async () => {
    setBusy(true);
    try {
      const r = await versions.addAssets(version.id, { q: q.trim() });
      toast(`Added ${plural(r.added, 'image')} to “${version.name}”${r.already_there ? ` (${r.already_there.toLocaleString()} were there already)` : ''}.`, { kind: 'success' });
      onDone();
      onClose();
    } catch (e) {
      setError({ q, message: errorMessage(e) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog open title={`Add images to ${version.name}`} onClose={onClose} wide>
      <p>
        Images of the datalake “{dataset.datalake}” matching a query (empty: all of them). They are referenced, not copied. From the <a href={`/datalake?lake=${dataset.datalake_id}`}>Datalake</a> page you can also pick them by hand.
      </p>
      <QueryBar
        value={q}
        onChange={setQ}
        onSubmit={() => void add()}
        complete={(text, cursor, signal) => lakes.autocomplete(dataset.datalake_id, text, cursor, signal)}
        error={error}
        label="Datalake query"
        placeholder="tag = night and width >= 640"
      />
      <p class="muted" aria-live="polite">
        {count === null ? '…' : `${plural(count, 'image')} match.`}
      </p>
      <div class="dialog-actions">
        <button type="button" class="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" class="button button-primary" disabled={busy || !count || version.locked} onClick={() => void add()}>
          Add {count !== null ? plural(count, 'image') : 'images'}
        </button>
      </div>
    </Dialog>
  );
}

/* --- export --------------------------------------------------------------------------------------------------------- */

export function ExportDialog({ version, q, onClose }: { version: Version; q: string; onClose: () => void }) {
  const [format, setFormat] = useState<ExportFormat>('coco');
  const [images, setImages] = useState(false);
  const [archive, setArchive] = useState('tar');
  const [filtered, setFiltered] = useState(false);
  const [started, setStarted] = useState<Job | null>(null);
  const [error, setError] = useState<string | null>(null);
  const job = useJob(started);
  const single = (format === 'coco' || format === 'csv') && !images;
  const start = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const j = await versions.export(version.id, { format, images, archive: single ? undefined : archive, q: filtered && q ? q : undefined });
      startedJob(j);
      setStarted(j);
    } catch (x) {
      setError(errorMessage(x));
    }
  };
  const res = job?.state === 'succeeded' ? (job.result as ExportResult) : null;
  const skipped = res && (res as ExportResult & { skipped?: Record<string, number> }).skipped;
  return (
    <Dialog open title={`Export ${version.dataset} / ${version.name}`} onClose={onClose} wide>
      {!job ? (
        <form onSubmit={start} noValidate aria-label="Export">
          <fieldset class="formats">
            <legend>Format</legend>
            {FORMATS.map((f) => (
              <label key={f.value} class="check">
                <input type="radio" name="format" value={f.value} checked={format === f.value} onChange={() => setFormat(f.value)} />
                <span>
                  <strong>{f.label}</strong> <span class="muted">— {f.note}</span>
                </span>
              </label>
            ))}
          </fieldset>
          <fieldset class="checks">
            <legend>Contents</legend>
            <label class="check">
              <input type="checkbox" checked={images} onChange={(e) => setImages((e.target as HTMLInputElement).checked)} />
              <span>Include the images</span>
            </label>
            {q && (
              <label class="check">
                <input type="checkbox" checked={filtered} onChange={(e) => setFiltered((e.target as HTMLInputElement).checked)} />
                <span>
                  Only the images matching the filter <code>{q}</code>
                </span>
              </label>
            )}
            {!single && (
              <label class="inline-select">
                Archive{' '}
                <select value={archive} onChange={(e) => setArchive((e.target as HTMLSelectElement).value)}>
                  <option value="tar">.tar</option>
                  <option value="tar.gz">.tar.gz</option>
                  <option value="zip">.zip</option>
                </select>
              </label>
            )}
          </fieldset>
          <p class="muted">Splits (asset tags train, val, test) become the format's splits. Shapes the format cannot hold are left out and counted.</p>
          <FormError message={error} />
          <div class="dialog-actions">
            <button type="button" class="button" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" class="button button-primary">
              Start export
            </button>
          </div>
        </form>
      ) : (
        <JobProgress job={job} label="Export progress">
          {res && (
            <div class="export-done" data-testid="export-done">
              <p>
                {plural(res.images, 'image')} and {plural(res.shapes, 'shape')} as {res.format.toUpperCase()}: <strong>{res.filename}</strong> ({formatBytes(res.size)}).
              </p>
              {skipped && Object.keys(skipped).length > 0 && (
                <p class="muted" data-testid="export-skipped">
                  Left out, the format cannot hold them: {Object.entries(skipped).map(([k, n]) => plural(n, `${k} shape`)).join(', ')}.
                </p>
              )}
              <a class="button button-primary" href={`/api/v1/files/${res.file}?filename=${encodeURIComponent(res.filename)}`} download={res.filename}>
                Download {res.filename}
              </a>
            </div>
          )}
        </JobProgress>
      )}
      {job && (
        <div class="dialog-actions">
          <button type="button" class="button" onClick={onClose}>
            Close
          </button>
        </div>
      )}
    </Dialog>
  );
}

/* --- import ------------------------------------------------------------------------------------------------------------ */

interface ImportResult {
  imported: boolean;
  images: number;
  shapes: number;
  skipped_shapes: number;
  problems_total: number;
  categories: number;
  problems: ImportProblem[];
}

function guessFormat(name: string): ExportFormat {
  const n = name.toLowerCase();
  if (n.endsWith('.csv')) return 'csv';
  if (n.endsWith('.yaml') || n.endsWith('.yml') || n.includes('yolo')) return 'yolo';
  if (n.endsWith('.xml') || n.includes('voc')) return 'voc';
  return 'coco';
}

export function ImportDialog({ version, onClose, onDone }: { version: Version; onClose: () => void; onDone: () => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [format, setFormat] = useState<ExportFormat>('coco');
  const [mode, setMode] = useState('replace');
  const [status, setStatus] = useState('accepted');
  const [skip, setSkip] = useState(false);
  const [sent, setSent] = useState<number | null>(null);
  const [started, setStarted] = useState<Job | null>(null);
  const [error, setError] = useState<string | null>(null);
  const job = useJob(started);
  useEffect(() => {
    if (job && job.state === 'succeeded') onDone();
  }, [job?.state]);
  const start = async (e: Event) => {
    e.preventDefault();
    if (!file) {
      setError('Choose a file: a COCO JSON file, or an archive (.zip, .tar, .tar.gz) of a YOLO, VOC or folder layout.');
      return;
    }
    setError(null);
    try {
      setSent(0);
      const up = uploadFile(file, setSent);
      const { sha256 } = await up.done;
      const j = await versions.import(version.id, { file: sha256, format, mode, skip_invalid: skip, status });
      startedJob(j);
      setStarted(j);
    } catch (x) {
      setSent(null);
      setError(errorMessage(x));
    }
  };
  const res = job && !['queued', 'running'].includes(job.state) ? (job.result as ImportResult | null) : null;
  return (
    <Dialog open title={`Import into ${version.name}`} onClose={onClose} wide>
      {!job ? (
        <form onSubmit={start} noValidate aria-label="Import">
          <p class="muted">
            Images are matched to the datalake “{version.dataset}” uses by content, file name or SHA-256; images shipped in an archive are added to it. Labels are matched by name,
            the others created. All or nothing: a file with problems changes nothing, unless invalid records are skipped.
          </p>
          <Field label="Annotation file">
            {(a) => (
              <input
                {...a}
                type="file"
                accept=".json,.zip,.tar,.gz,.tgz,.csv"
                onChange={(e) => {
                  const f = (e.target as HTMLInputElement).files?.[0] ?? null;
                  setFile(f);
                  if (f) setFormat(guessFormat(f.name));
                }}
              />
            )}
          </Field>
          <div class="form-row">
            <label class="field">
              <span>Format</span>
              <select value={format} onChange={(e) => setFormat((e.target as HTMLSelectElement).value as ExportFormat)}>
                {FORMATS.map((f) => (
                  <option key={f.value} value={f.value}>
                    {f.label}
                  </option>
                ))}
              </select>
            </label>
            <label class="field">
              <span>Images already annotated</span>
              <select value={mode} onChange={(e) => setMode((e.target as HTMLSelectElement).value)}>
                <option value="replace">replace their annotation</option>
                <option value="keep">keep theirs</option>
                <option value="merge">add the file's shapes</option>
              </select>
            </label>
            <label class="field">
              <span>Status of imported annotations</span>
              <select value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
                <option value="accepted">accepted</option>
                <option value="pending">pending</option>
              </select>
            </label>
          </div>
          <label class="check">
            <input type="checkbox" checked={skip} onChange={(e) => setSkip((e.target as HTMLInputElement).checked)} />
            <span>Skip invalid records and import the rest</span>
          </label>
          {sent !== null && file && (
            <p class="muted" role="status">
              Uploading {formatBytes(sent)} of {formatBytes(file.size)}…
            </p>
          )}
          <FormError message={error} />
          <div class="dialog-actions">
            <button type="button" class="button" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" class="button button-primary" disabled={sent !== null || version.locked}>
              Import
            </button>
          </div>
        </form>
      ) : (
        <JobProgress job={job} label="Import progress">
          {res && <ImportReport res={res} />}
        </JobProgress>
      )}
      {job && (
        <div class="dialog-actions">
          <button type="button" class="button" onClick={onClose}>
            Close
          </button>
        </div>
      )}
    </Dialog>
  );
}

function ImportReport({ res }: { res: ImportResult }) {
  const problems = res.problems ?? [];
  const errors = problems.filter((p) => !p.warning);
  const warnings = problems.filter((p) => p.warning);
  return (
    <div data-testid="import-report">
      {res.imported ? (
        <p>
          Imported {plural(res.images, 'image')} and {plural(res.shapes, 'shape')} ({plural(res.categories, 'category', 'categories')}).
          {res.skipped_shapes ? ` ${plural(res.skipped_shapes, 'invalid shape')} skipped.` : ''}
        </p>
      ) : (
        <p>Nothing was imported: {plural(res.problems_total, 'problem')} (the first {errors.length} below).</p>
      )}
      {problems.length > 0 && (
        <ul class="problems">
          {[...errors, ...warnings].slice(0, 200).map((p, i) => (
            <li key={i} class={p.warning ? 'problem-warning' : 'problem-error'}>
              <code>{p.where}</code> {p.message}
              {p.warning && <span class="muted"> (warning)</span>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
