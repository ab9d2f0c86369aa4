/*
 * Dataset.tsx - /datasets/:id: one dataset, its versions (counts, lock,
 * parent) with fork / lock / unlock / delete, and the statistics of the
 * version picked in the list (?v=, the newest by default): statuses,
 * objects per label, splits.
 */
import { useState } from 'preact/hooks';
import { PageHeader, ProgressBar } from '../../components/Bits';
import { confirmDialog, Dialog } from '../../components/Dialog';
import { FormError, TextField, useForm } from '../../components/Form';
import { ErrorBox } from '../../components/Table';
import { toast } from '../../components/Toasts';
import { errorMessage } from '../../lib/api';
import { datasets, plural, versions, versionUrl, type Dataset, type Version } from '../../lib/datasets';
import { formatTime } from '../../lib/format';
import { useLoad } from '../../lib/hooks';
import { can } from '../../lib/roles';
import { navigate, setQuery, useLocation } from '../../lib/router';
import { currentMe } from '../../lib/session';
import { ForkDialog, NewVersionDialog } from './dialogs';
import { StatsPanel } from './Stats';
import './datasets.css';

export function DatasetPage({ params }: { params: Record<string, string> }) {
  const id = Number(params.id);
  const loc = useLocation();
  const me = currentMe();
  const canWrite = can(me?.role, 'write');
  const ds = useLoad((signal) => datasets.get(id, signal), [id]);
  const vs = useLoad((signal) => datasets.versions(id, signal), [id]);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState(false);
  const [forking, setForking] = useState<Version | null>(null);
  const d = ds.data;
  const list = vs.data ?? [];
  const picked = list.find((v) => v.id === Number(loc.query.get('v'))) ?? list[list.length - 1] ?? null;

  const lock = async (v: Version, on: boolean) => {
    if (!on) {
      const ok = await confirmDialog({
        title: `Unlock ${v.name}?`,
        message: `Version “${v.name}” was locked${v.locked_by ? ` by ${v.locked_by}` : ''}${v.locked_at ? ` on ${formatTime(v.locked_at)}` : ''}, usually because an experiment or a release uses it as it is. Unlocked, it can change. To change a copy instead, fork it.`,
        confirmLabel: 'Unlock',
      });
      if (!ok) return;
    }
    try {
      await (on ? versions.lock(v.id) : versions.unlock(v.id));
      toast(on ? `Version “${v.name}” locked: it cannot change until unlocked.` : `Version “${v.name}” unlocked.`, { kind: 'success' });
      vs.reload();
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    }
  };

  const remove = async (v: Version) => {
    const ok = await confirmDialog({
      title: `Delete version ${v.name}?`,
      message: `This deletes “${v.name}” with its ${plural(v.assets, 'asset')}, labels and annotations (${plural(v.shapes, 'shape')}). The datalake's images stay. It cannot be undone.`,
      confirmLabel: 'Delete version',
      danger: true,
    });
    if (!ok) return;
    try {
      await versions.remove(v.id);
      toast(`Version “${v.name}” deleted.`, { kind: 'success' });
      vs.reload();
      ds.reload();
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    }
  };

  const removeDataset = async () => {
    if (!d) return;
    const ok = await confirmDialog({
      title: `Delete dataset ${d.name}?`,
      message: `This deletes “${d.name}” and its ${plural(list.length, 'version')} with their annotations. The datalake's images stay. It cannot be undone.`,
      confirmLabel: 'Delete dataset',
      danger: true,
    });
    if (!ok) return;
    try {
      await datasets.remove(d.id);
      toast(`Dataset “${d.name}” deleted.`, { kind: 'success' });
      navigate('/datasets');
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    }
  };

  return (
    <div class="page">
      <PageHeader
        crumbs={[{ href: '/datasets', label: 'Datasets' }]}
        title={d?.name ?? (ds.error ? 'Dataset not found' : 'Loading…')}
        subtitle={
          d && (
            <>
              {d.description ? `${d.description} · ` : ''}
              images from the datalake <a href={`/datalake?lake=${d.datalake_id}`}>{d.datalake}</a>
            </>
          )
        }
        actions={
          d &&
          canWrite && (
            <>
              <button type="button" class="button" onClick={() => setEditing(true)}>
                Edit…
              </button>
              <button type="button" class="button button-danger-quiet" onClick={removeDataset}>
                Delete…
              </button>
              <button type="button" class="button button-primary" onClick={() => setCreating(true)}>
                New version
              </button>
            </>
          )
        }
      />
      {ds.error && <ErrorBox message={ds.error} onRetry={ds.reload} />}
      {vs.error && <ErrorBox message={vs.error} onRetry={vs.reload} />}
      <div class="ds-stack">
        <section class="card ds-versions" aria-labelledby="versions-title">
          <h2 id="versions-title">Versions</h2>
          {vs.data && !list.length && <p class="muted">No version yet. Create one, or build one from datalake images on the Datalake page.</p>}
          {list.length > 0 && (
            <div class="table-wrap">
              <table class="table" data-testid="versions">
                <thead>
                  <tr>
                    <th scope="col">Version</th>
                    <th scope="col">Task</th>
                    <th scope="col" class="num">Images</th>
                    <th scope="col">Annotated</th>
                    <th scope="col" class="num">Labels</th>
                    <th scope="col" class="num">Objects</th>
                    <th scope="col">State</th>
                    <th scope="col">
                      <span class="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {[...list].reverse().map((v) => {
                    const parent = v.parent_id ? list.find((x) => x.id === v.parent_id) : null;
                    const frac = v.assets ? v.annotated / v.assets : 0;
                    return (
                      <tr key={v.id} class={picked?.id === v.id ? 'row-picked' : undefined} data-version={v.name}>
                        <td>
                          <a href={versionUrl(v)} class="strong-link">
                            {v.name}
                          </a>
                          {parent && <div class="muted small">forked from {parent.name}</div>}
                          {v.description && <div class="muted small">{v.description}</div>}
                        </td>
                        <td>{v.task}</td>
                        <td class="num">{v.assets.toLocaleString()}</td>
                        <td>
                          <div class="progress-cell">
                            <ProgressBar value={frac} label={`${v.name} annotated`} />
                            <span class="progress-text">
                              {v.annotated.toLocaleString()} ({Math.round(frac * 100)}%)
                            </span>
                          </div>
                        </td>
                        <td class="num">{v.labels.toLocaleString()}</td>
                        <td class="num">{v.shapes.toLocaleString()}</td>
                        <td>
                          {v.locked ? (
                            <span class="badge badge-locked" title={`Locked by ${v.locked_by ?? '?'} on ${formatTime(v.locked_at)}`}>
                              locked
                            </span>
                          ) : (
                            <span class="badge">open</span>
                          )}
                        </td>
                        <td class="col-actions">
                          <div class="row-actions">
                            <button type="button" class="button button-small" aria-pressed={picked?.id === v.id} onClick={() => setQuery({ v: String(v.id) })}>
                              Stats
                            </button>
                            {canWrite && (
                              <>
                                <button type="button" class="button button-small" onClick={() => setForking(v)}>
                                  Fork…
                                </button>
                                <button type="button" class="button button-small" onClick={() => void lock(v, !v.locked)}>
                                  {v.locked ? 'Unlock…' : 'Lock'}
                                </button>
                                <button type="button" class="button button-small button-danger-quiet" disabled={v.locked} title={v.locked ? 'Unlock it first' : undefined} onClick={() => void remove(v)}>
                                  Delete…
                                </button>
                              </>
                            )}
                          </div>
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
        </section>
        {picked && <VersionStatsCard version={picked} />}
      </div>
      {d && <NewVersionDialog dataset={d} open={creating} onClose={() => setCreating(false)} onCreated={(v) => navigate(versionUrl(v))} />}
      {d && editing && <EditDatasetDialog dataset={d} onClose={() => setEditing(false)} onSaved={(x) => ds.setData(x)} />}
      {forking && <ForkDialog version={forking} q="" onClose={() => setForking(null)} onForked={(v) => navigate(versionUrl(v))} />}
    </div>
  );
}

function VersionStatsCard({ version }: { version: Version }) {
  const stats = useLoad((signal) => versions.stats(version.id, signal), [version.id, version.shapes, version.annotated, version.assets]);
  const labels = useLoad((signal) => versions.labels(version.id, signal), [version.id, version.labels]);
  return (
    <section class="card ds-stats" aria-labelledby="stats-title">
      <div class="card-title-row">
        <h2 id="stats-title">Statistics of {version.name}</h2>
        <a href={versionUrl(version)}>Open</a>
      </div>
      {stats.error && <ErrorBox message={stats.error} onRetry={stats.reload} />}
      {stats.data ? <StatsPanel stats={stats.data} labels={labels.data ?? []} /> : !stats.error && <p class="muted">Loading…</p>}
    </section>
  );
}

function EditDatasetDialog({ dataset, onClose, onSaved }: { dataset: Dataset; onClose: () => void; onSaved: (d: Dataset) => void }) {
  const form = useForm(
    { name: dataset.name, description: dataset.description ?? '' },
    async (v) => {
      onSaved(await datasets.update(dataset.id, { name: v.name.trim(), description: v.description.trim() }));
      onClose();
    },
    { required: ['name'] },
  );
  return (
    <Dialog open title="Edit dataset" onClose={onClose}>
      <form onSubmit={form.onSubmit} noValidate aria-label="Edit dataset">
        <TextField form={form} name="name" label="Name" autofocus />
        <TextField form={form} name="description" label="Description" />
        <FormError message={form.formError} />
        <div class="dialog-actions">
          <button type="button" class="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={form.submitting}>
            Save
          </button>
        </div>
      </form>
    </Dialog>
  );
}
