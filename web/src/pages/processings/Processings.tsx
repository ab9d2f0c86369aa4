/*
 * Processings.tsx - /processings?processing=: the catalog (built-in and the
 * organization's custom processings, their targets and descriptions, a
 * Launch link each) and the runs, newest first, with their job's progress.
 */
import { useState } from 'preact/hooks';
import { Empty, PageHeader, ProgressCell, StateBadge } from '../../components/Bits';
import { confirmDialog } from '../../components/Dialog';
import { toast } from '../../components/Toasts';
import { api, errorMessage } from '../../lib/api';
import { DefineDialog } from './Define';
import { ErrorBox, KeysetTable } from '../../components/Table';
import { formatTime, jobDuration } from '../../lib/format';
import { useInterval, useKeysetList, useLoad } from '../../lib/hooks';
import { processings, TARGET_LABEL, type Processing, type Run } from '../../lib/processing';
import { can } from '../../lib/roles';
import { setQuery, useLocation } from '../../lib/router';
import { currentMe } from '../../lib/session';
import { jobActive } from '../../lib/types';
import { TargetRef } from './bits';
import './processings.css';

export function ProcessingsPage() {
  const loc = useLocation();
  const only = loc.query.get('processing') ?? undefined;
  /* from a datalake or dataset version page: the target and its selection, carried to the launch form */
  const on = loc.query.get('on') ?? '';
  const selQuery = loc.query.get('query') ?? '';
  const onKind = on.includes(':') ? on.slice(0, on.lastIndexOf(':')) : '';
  const carry = on ? '?' + new URLSearchParams(selQuery ? { on, query: selQuery } : { on }).toString() : '';
  const me = currentMe();
  const canWrite = can(me?.role, 'write');
  const catalog = useLoad((s) => processings.list(s), []);
  const runs = useKeysetList((cursor, signal) => processings.runs(only, cursor, signal), [only]);
  const [defining, setDefining] = useState(false);
  const archive = async (p: Processing) => {
    const ok = await confirmDialog({
      title: `Archive ${p.name}?`,
      message: `Every version of ${p.name} leaves the catalog; its runs stay readable.`,
      confirmLabel: 'Archive',
      danger: true,
    });
    if (!ok) return;
    try {
      await api.del(`/processings/${encodeURIComponent(p.name)}`);
      toast(`${p.name} archived.`, { kind: 'success' });
      catalog.reload();
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    }
  };
  /* refresh the first page while something runs */
  const active = runs.items.some((r) => jobActive(r));
  useInterval(() => runs.reload(), 1500, active);
  return (
    <div class="page">
      <PageHeader
        title="Processings"
        subtitle="Jobs that run over a datalake, a dataset version or a model version and leave new data behind: augmented copies, de-duplication, splits, tiles, resized copies, tags."
        actions={
          canWrite && (
            <button type="button" class="button" onClick={() => setDefining(true)}>
              New processing…
            </button>
          )
        }
      />
      <DefineDialog
        open={defining}
        onClose={() => setDefining(false)}
        onDefined={() => {
          setDefining(false);
          catalog.reload();
        }}
      />
      <section aria-labelledby="catalog-h">
        <h2 id="catalog-h">Catalog</h2>
        {catalog.error && <ErrorBox message={catalog.error} onRetry={catalog.reload} />}
        {catalog.data && catalog.data.length === 0 && <Empty title="No processing" />}
        {on && (
          <p class="notice" role="status">
            Pick a processing to run on {TARGET_LABEL[onKind as keyof typeof TARGET_LABEL]?.toLowerCase() ?? onKind} {on.slice(on.lastIndexOf(':') + 1)}
            {selQuery ? (
              <>
                , only <code>{selQuery}</code>
              </>
            ) : (
              ', all of it'
            )}
            . <a href="/processings">Show every processing</a>
          </p>
        )}
        <ul class="proc-catalog" aria-label="Catalog">
          {(catalog.data ?? [])
            .filter((p) => !onKind || p.targets.includes(onKind as Processing['target']))
            .map((p) => (
              <CatalogCard key={p.name} p={p} canWrite={canWrite} carry={carry} onArchive={() => archive(p)} />
            ))}
        </ul>
      </section>
      <section aria-labelledby="runs-h">
        <div class="section-bar">
          <h2 id="runs-h">Runs</h2>
          <label class="inline-label">
            Processing{' '}
            <select value={only ?? ''} onChange={(e) => setQuery({ processing: (e.target as HTMLSelectElement).value || null })}>
              <option value="">all</option>
              {(catalog.data ?? []).map((p) => (
                <option key={p.name} value={p.name}>
                  {p.name}
                </option>
              ))}
            </select>
          </label>
        </div>
        <KeysetTable<Run>
          list={runs}
          caption="Runs"
          rowKey={(r) => r.id}
          empty={<span>No run yet. Launch a processing from the catalog above.</span>}
          columns={[
            {
              header: 'Run',
              class: 'col-id',
              cell: (r) => (
                <a href={`/processings/runs/${r.id}`} class="strong-link">
                  #{r.id}
                </a>
              ),
            },
            { header: 'Processing', cell: (r) => `${r.processing.name}${r.processing.builtin ? '' : ` v${r.processing.version}`}` },
            { header: 'Target', cell: (r) => <TargetRef input={r.input} /> },
            { header: 'State', cell: (r) => <StateBadge state={r.state} /> },
            { header: 'Progress', class: 'col-progress', cell: (r) => <ProgressCell value={r.progress} message={r.error ?? r.message} label={`Run ${r.id} progress`} /> },
            { header: 'Started', cell: (r) => formatTime(r.started_at ?? r.created_at) },
            { header: 'Duration', cell: (r) => jobDuration(r.started_at, r.finished_at) },
          ]}
        />
      </section>
    </div>
  );
}

function CatalogCard({ p, canWrite, carry, onArchive }: { p: Processing; canWrite: boolean; carry: string; onArchive: () => void }) {
  return (
    <li class="card proc-card" aria-labelledby={`proc-${p.name}`}>
      <div class="card-title-row">
        <h3 id={`proc-${p.name}`}>{p.name}</h3>
        <span class={p.builtin ? 'badge' : 'badge badge-running'}>{p.builtin ? 'built-in' : `custom v${p.version}`}</span>
      </div>
      <p class="proc-desc">{p.description ?? <span class="muted">No description.</span>}</p>
      <p class="muted proc-meta">
        On {p.targets.map((t) => TARGET_LABEL[t] ?? t).join(' or ')} · {p.parameters.length} parameter{p.parameters.length === 1 ? '' : 's'}
        {p.outputs?.length ? ` · makes ${p.outputs.join(', ')}` : ''}
      </p>
      {canWrite && (
        <div class="row-actions">
          <a class="button button-small" href={`/processings/${encodeURIComponent(p.name)}/launch${carry}`} aria-label={`Launch ${p.name}`}>
            Launch…
          </a>
          {!p.builtin && (
            <button type="button" class="button button-small button-danger-quiet" aria-label={`Archive ${p.name}`} onClick={onArchive}>
              Archive…
            </button>
          )}
        </div>
      )}
    </li>
  );
}
