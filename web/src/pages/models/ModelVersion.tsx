/*
 * ModelVersion.tsx - /models/:id/versions/:ref (a number or an alias): one
 * version's files (download links), labels in output order, parameters,
 * lineage (the source experiment and its dataset versions) and aliases.
 */
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { PageHeader } from '../../components/Bits';
import { DataTable, ErrorBox } from '../../components/Table';
import { versions as dsVersions, type Version } from '../../lib/datasets';
import { formatBytes, formatTime } from '../../lib/format';
import { useLoad } from '../../lib/hooks';
import { modelFileUrl, registry, type ModelFile } from '../../lib/registry';
import { can } from '../../lib/roles';
import { currentMe } from '../../lib/session';
import { api } from '../../lib/api';
import type { ModelVersion as MV } from '../../lib/registry';
import type { PageProps } from '../../routes';
import { AliasChips, basename, paramText, VersionStatus } from './bits';
import { MoveAliasDialog } from './Model';
import { Dialog } from '../../components/Dialog';
import { FormError, SelectField, TextField, useForm } from '../../components/Form';
import { toast } from '../../components/Toasts';
import './models.css';

export function ModelVersionPage({ params }: PageProps) {
  const id = Number(params.id);
  const ref = params.ref;
  const me = currentMe();
  const canWrite = can(me?.role, 'write');
  const v = useLoad((s) => api.get<MV>(`/models/${id}/versions/${encodeURIComponent(ref)}`, undefined, s), [id, ref]);
  const model = useLoad((s) => registry.model(id, s), [id]);
  const all = useLoad((s) => registry.versions(id, s), [id]);
  const [moving, setMoving] = useState<string | null>(null);
  const [statusOpen, setStatusOpen] = useState(false);
  const d = v.data;
  const lineageDs = d?.lineage?.datasets ?? {};
  const dsv = useLoad(
    (s) => Promise.all(Object.entries(lineageDs).map(([alias, vid]) => dsVersions.get(vid, s).then((x): [string, number, Version | null] => [alias, vid, x], () => [alias, vid, null] as [string, number, Version | null]))),
    [d?.id],
  );
  const params_ = d?.params && Object.keys(d.params).length ? d.params : (d?.lineage?.params ?? {});
  return (
    <div class="page">
      <PageHeader
        crumbs={[
          { href: '/models', label: 'Models' },
          { href: `/models/${id}`, label: d?.model ?? model.data?.name ?? 'Model' },
        ]}
        title={d ? `${d.model} v${d.version}` : 'Model version'}
        subtitle={d && <>{d.framework} · <VersionStatus status={d.status} reason={d.status_reason} />{d.status_reason ? ` (${d.status_reason})` : ''} · published {formatTime(d.created_at)}{d.description ? ` · ${d.description}` : ''}</>}
        actions={
          canWrite &&
          d && (
            <>
              <button type="button" class="button" onClick={() => setStatusOpen(true)}>
                Status…
              </button>
              <a class="button" href={`/deployments?new=1&champion=${d.id}`}>
                Deploy…
              </a>
              <button type="button" class="button" onClick={() => setMoving('')}>
                Set an alias…
              </button>
            </>
          )
        }
      />
      {v.error && <ErrorBox message={v.error} onRetry={v.reload} />}
      {d && (
        <>
          <div class="two-col">
            <section class="card" aria-labelledby="mv-aliases">
              <h2 id="mv-aliases">Aliases</h2>
              {d.aliases.length ? (
                <ul class="label-list" aria-label="Aliases of this version">
                  {d.aliases.map((a) => (
                    <li key={a} class="alias-row">
                      <AliasChips aliases={{ [a]: d.version }} />
                      {canWrite && (
                        <button type="button" class="button button-small" aria-label={`Move ${a}`} onClick={() => setMoving(a)}>
                          Move
                        </button>
                      )}
                    </li>
                  ))}
                </ul>
              ) : (
                <p class="muted">No alias points at this version.</p>
              )}
            </section>
            <section class="card" aria-labelledby="mv-lineage">
              <h2 id="mv-lineage">Lineage</h2>
              <dl class="facts">
                <dt>Source experiment</dt>
                <dd>
                  {d.lineage?.experiment_id && d.lineage.project_id ? (
                    <a href={`/projects/${d.lineage.project_id}/experiments/${d.lineage.experiment_id}`}>{d.lineage.experiment ?? `experiment ${d.lineage.experiment_id}`}</a>
                  ) : (
                    <span class="muted">none: uploaded files</span>
                  )}
                </dd>
                <dt>Dataset versions</dt>
                <dd>
                  {Object.keys(lineageDs).length === 0 ? (
                    <span class="muted">none recorded</span>
                  ) : (
                    <ul class="part-links" aria-label="Dataset versions">
                      {(dsv.data ?? Object.entries(lineageDs).map(([a, id2]) => [a, id2, null] as [string, number, Version | null])).map(([alias, vid, x]) => (
                        <li key={alias}>
                          {alias}:{' '}
                          {x ? (
                            <a href={`/datasets/${x.dataset_id}/versions/${x.id}`}>
                              {x.dataset} / {x.name}
                            </a>
                          ) : (
                            <span>dataset version {vid}</span>
                          )}
                        </li>
                      ))}
                    </ul>
                  )}
                </dd>
              </dl>
            </section>
          </div>
          <section class="card" aria-labelledby="mv-files" style={{ marginTop: '16px' }}>
            <h2 id="mv-files">Files</h2>
            <DataTable<ModelFile>
              caption="Files"
              rows={d.files}
              rowKey={(f) => f.path}
              empty="This version has no file."
              columns={[
                {
                  header: 'Path',
                  cell: (f) => (
                    <a href={modelFileUrl(d.id, f.path)} download={basename(f.path)} class="mono">
                      {f.path}
                    </a>
                  ),
                },
                { header: 'Size', cell: (f) => formatBytes(f.size), class: 'num' },
                { header: 'SHA-256', cell: (f) => <span class="sha" title={f.sha256}>{f.sha256.slice(0, 16)}…</span> },
              ]}
            />
          </section>
          <div class="two-col">
            <section class="card" aria-labelledby="mv-labels">
              <h2 id="mv-labels">Labels ({(d.labels ?? []).length})</h2>
              {(d.labels ?? []).length ? (
                <ol class="label-list" aria-label="Labels in output order">
                  {(d.labels ?? []).map((l, i) => (
                    <li key={i} class="chip">
                      <span class="label-index">{i}</span> {l}
                    </li>
                  ))}
                </ol>
              ) : (
                <p class="muted">No labels recorded.</p>
              )}
            </section>
            <section class="card" aria-labelledby="mv-params">
              <h2 id="mv-params">Parameters</h2>
              {Object.keys(params_).length ? (
                <dl class="facts" aria-label="Parameter values">
                  {Object.entries(params_).map(([k, val]) => (
                    <Fragment key={k}>
                      <dt>{k}</dt>
                      <dd class="mono">{paramText(val)}</dd>
                    </Fragment>
                  ))}
                </dl>
              ) : (
                <p class="muted">No parameters recorded.</p>
              )}
            </section>
          </div>
          <Dialog open={statusOpen} title={`Status of v${d.version}`} onClose={() => setStatusOpen(false)}>
            {statusOpen && (
              <StatusForm
                v={d}
                onClose={() => setStatusOpen(false)}
                onDone={(nv) => {
                  setStatusOpen(false);
                  v.setData(nv);
                  all.reload();
                }}
              />
            )}
          </Dialog>
          {model.data && all.data && (
            <MoveAliasDialog
              open={moving !== null}
              model={model.data}
              alias={moving ?? ''}
              versions={all.data}
              defaultVersion={moving ? undefined : d.version}
              onClose={() => setMoving(null)}
              onDone={() => {
                setMoving(null);
                v.reload();
                model.reload();
                all.reload();
              }}
            />
          )}
        </>
      )}
    </div>
  );
}

function StatusForm({ v, onClose, onDone }: { v: MV; onClose: () => void; onDone: (v: MV) => void }) {
  const form = useForm({ status: v.status, status_reason: v.status_reason ?? '' }, async (x) => {
    const nv = await registry.updateVersion(v.id, { status: x.status, ...(x.status_reason.trim() ? { status_reason: x.status_reason.trim() } : {}) });
    toast(`v${v.version} is now ${nv.status}.`, { kind: 'success' });
    onDone(nv);
  });
  return (
    <form onSubmit={form.onSubmit} noValidate>
      <SelectField
        form={form}
        name="status"
        label="Status"
        options={[
          { value: 'ready', label: 'ready: can be deployed' },
          { value: 'candidate', label: 'candidate: waiting for a decision' },
          { value: 'archived', label: 'archived: kept, not to be used' },
        ]}
      />
      <TextField form={form} name="status_reason" label="Reason (optional)" hint="Why, e.g. “mAP 0.61 under the champion's 0.64 on the test set”." />
      <FormError message={form.formError} />
      <div class="dialog-actions">
        <button type="button" class="button" onClick={onClose}>
          Cancel
        </button>
        <button type="submit" class="button button-primary" disabled={form.submitting}>
          Save status
        </button>
      </div>
    </form>
  );
}
