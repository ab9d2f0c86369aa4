/*
 * Model.tsx - /models/:id: a model's versions, its aliases (moved with a
 * dialog: one atomic PUT .../aliases/{alias}) and the log of alias moves.
 */
import { useState } from 'preact/hooks';
import { Empty, PageHeader } from '../../components/Bits';
import { Dialog } from '../../components/Dialog';
import { FormError, SelectField, TextField, useForm } from '../../components/Form';
import { DataTable, ErrorBox } from '../../components/Table';
import { toast } from '../../components/Toasts';
import { formatTime } from '../../lib/format';
import { useLoad } from '../../lib/hooks';
import { registry, type AliasMove, type Model, type ModelVersion } from '../../lib/registry';
import { can } from '../../lib/roles';
import { currentMe } from '../../lib/session';
import type { PageProps } from '../../routes';
import { AliasChips, VersionStatus } from './bits';
import './models.css';

export function ModelPage({ params }: PageProps) {
  const id = Number(params.id);
  const me = currentMe();
  const canWrite = can(me?.role, 'write');
  const model = useLoad((s) => registry.model(id, s), [id]);
  const versions = useLoad((s) => registry.versions(id, s), [id]);
  const log = useLoad((s) => registry.aliasLog(id, s), [id]);
  const [moving, setMoving] = useState<string | null>(null);
  const m = model.data;
  const reloadAll = () => {
    model.reload();
    versions.reload();
    log.reload();
  };
  return (
    <div class="page">
      <PageHeader
        crumbs={[{ href: '/models', label: 'Models' }]}
        title={m ? m.name : 'Model'}
        subtitle={m && [m.task_type ?? 'no task type', `${m.versions} version${m.versions === 1 ? '' : 's'}`, m.description].filter(Boolean).join(' · ')}
        actions={
          canWrite &&
          m &&
          m.versions > 0 && (
            <button type="button" class="button" onClick={() => setMoving('')}>
              Move an alias…
            </button>
          )
        }
      />
      {model.error && <ErrorBox message={model.error} onRetry={model.reload} />}
      {m && (
        <section class="card" aria-labelledby="aliases-h">
          <div class="card-title-row">
            <h2 id="aliases-h">Aliases</h2>
          </div>
          {Object.keys(m.aliases).length === 0 ? (
            <p class="muted">No alias yet. An alias (champion, challenger, any name) points at one version; deployments and scripts can name it instead of a number.</p>
          ) : (
            <ul class="label-list" aria-label="Aliases">
              {Object.entries(m.aliases).map(([a, v]) => (
                <li key={a} class="alias-row">
                  <AliasChips aliases={{ [a]: v }} />
                  {canWrite && (
                    <button type="button" class="button button-small" aria-label={`Move ${a}`} onClick={() => setMoving(a)}>
                      Move
                    </button>
                  )}
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
      <section aria-labelledby="versions-h">
        <h2 id="versions-h">Versions</h2>
        {versions.error && <ErrorBox message={versions.error} onRetry={versions.reload} />}
        {versions.data && versions.data.length === 0 ? (
          <Empty title="No version yet">
            <p>
              Publish an experiment into this model, or upload files with <code>cvops model create</code>.
            </p>
          </Empty>
        ) : (
          <DataTable<ModelVersion>
            caption="Versions"
            rows={versions.data ?? []}
            rowKey={(v) => v.id}
            empty={versions.loading ? 'Loading…' : null}
            columns={[
              {
                header: 'Version',
                cell: (v) => (
                  <a href={`/models/${id}/versions/${v.version}`} class="strong-link">
                    v{v.version}
                  </a>
                ),
              },
              { header: 'Status', cell: (v) => <VersionStatus status={v.status} reason={v.status_reason} /> },
              { header: 'Aliases', cell: (v) => <AliasChips aliases={Object.fromEntries(v.aliases.map((a) => [a, v.version]))} /> },
              { header: 'Framework', cell: (v) => v.framework },
              { header: 'Labels', cell: (v) => (v.labels ?? []).length, class: 'num' },
              { header: 'Files', cell: (v) => v.files.length, class: 'num' },
              {
                header: 'Source',
                cell: (v) =>
                  v.lineage?.experiment_id && v.lineage.project_id ? (
                    <a href={`/projects/${v.lineage.project_id}/experiments/${v.lineage.experiment_id}`}>{v.lineage.experiment ?? `experiment ${v.lineage.experiment_id}`}</a>
                  ) : (
                    <span class="muted">uploaded</span>
                  ),
              },
              { header: 'Created', cell: (v) => formatTime(v.created_at) },
            ]}
          />
        )}
      </section>
      <section class="card" aria-labelledby="alias-log-h" style={{ marginTop: '16px' }}>
        <h2 id="alias-log-h">Alias history</h2>
        {log.error && <ErrorBox message={log.error} onRetry={log.reload} />}
        <DataTable<AliasMove>
          caption="Alias history"
          rows={log.data ?? []}
          rowKey={(x) => `${x.at}-${x.alias}-${x.to_version}`}
          empty={log.loading ? 'Loading…' : 'No alias was ever set.'}
          columns={[
            { header: 'When', cell: (x) => formatTime(x.at) },
            { header: 'Alias', cell: (x) => x.alias },
            { header: 'From', cell: (x) => (x.from_version ? `v${x.from_version}` : '—') },
            { header: 'To', cell: (x) => (x.to_version ? `v${x.to_version}` : 'removed') },
          ]}
        />
      </section>
      {m && versions.data && (
        <MoveAliasDialog
          open={moving !== null}
          model={m}
          alias={moving ?? ''}
          versions={versions.data}
          onClose={() => setMoving(null)}
          onDone={() => {
            setMoving(null);
            reloadAll();
          }}
        />
      )}
    </div>
  );
}

export function MoveAliasDialog(props: { open: boolean; model: Model; alias: string; versions: ModelVersion[]; defaultVersion?: number; onClose: () => void; onDone: () => void }) {
  const { model } = props;
  const current = props.alias ? model.aliases[props.alias] : undefined;
  const first = props.defaultVersion ?? current ?? props.versions[0]?.version ?? 1;
  return (
    <Dialog open={props.open} title={props.alias ? `Move ${props.alias}` : 'Move an alias'} onClose={props.onClose}>
      {props.open && <MoveAliasForm {...props} initialVersion={String(first)} current={current} />}
    </Dialog>
  );
}

function MoveAliasForm(props: { model: Model; alias: string; versions: ModelVersion[]; initialVersion: string; current?: number; onClose: () => void; onDone: () => void }) {
  const form = useForm(
    { alias: props.alias || 'champion', version: props.initialVersion },
    async (v) => {
      const alias = v.alias.trim();
      await registry.setAlias(props.model.id, alias, Number(v.version));
      toast(`${alias} now points at v${v.version}`);
      props.onDone();
    },
    { required: ['alias', 'version'] },
  );
  const was = props.model.aliases[form.values.alias.trim()];
  return (
    <form onSubmit={form.onSubmit} noValidate>
      <TextField form={form} name="alias" label="Alias" hint="champion, challenger or any name: lower-case letters, digits, - and _" autofocus={!props.alias} />
      <SelectField
        form={form}
        name="version"
        label="Version"
        options={props.versions.map((v) => ({ value: String(v.version), label: `v${v.version} · ${v.status}${v.aliases.length ? ' · ' + v.aliases.join(', ') : ''}` }))}
        hint={was ? `Now at v${was}. The move is one atomic update, kept in the alias history.` : 'A new alias.'}
      />
      <FormError message={form.formError} />
      <div class="dialog-actions">
        <button type="button" class="button" onClick={props.onClose}>
          Cancel
        </button>
        <button type="submit" class="button button-primary" disabled={form.submitting}>
          {form.submitting ? 'Moving…' : 'Move alias'}
        </button>
      </div>
    </form>
  );
}
