/*
 * Datasets.tsx - /datasets: the organization's datasets, and a new one
 * (with its first version) from a dialog.
 */
import { useState } from 'preact/hooks';
import { Empty, PageHeader } from '../../components/Bits';
import { DataTable, ErrorBox } from '../../components/Table';
import { datasets, type Dataset } from '../../lib/datasets';
import { formatTime } from '../../lib/format';
import { useLoad } from '../../lib/hooks';
import { can } from '../../lib/roles';
import { navigate } from '../../lib/router';
import { currentMe } from '../../lib/session';
import { NewDatasetDialog } from './dialogs';
import './datasets.css';

export function DatasetsPage() {
  const me = currentMe();
  const canWrite = can(me?.role, 'write');
  const list = useLoad((signal) => datasets.list(signal), []);
  const [creating, setCreating] = useState(false);
  return (
    <div class="page">
      <PageHeader
        title="Datasets"
        subtitle="Versioned, annotated subsets of a datalake: build them from datalake images, label, split, export."
        actions={
          canWrite && (
            <button type="button" class="button button-primary" onClick={() => setCreating(true)}>
              New dataset
            </button>
          )
        }
      />
      {list.error && <ErrorBox message={list.error} onRetry={list.reload} />}
      {list.data && list.data.length === 0 ? (
        <Empty title="No dataset yet">
          <p>
            Create one here, or select images on the <a href="/datalake">Datalake</a> page and choose “Create dataset version”.
          </p>
          {canWrite && (
            <button type="button" class="button button-primary" onClick={() => setCreating(true)}>
              New dataset
            </button>
          )}
        </Empty>
      ) : (
        <DataTable<Dataset>
          caption="Datasets"
          rows={list.data ?? []}
          rowKey={(d) => d.id}
          empty={list.loading ? 'Loading…' : null}
          columns={[
            {
              header: 'Name',
              cell: (d) => (
                <a href={`/datasets/${d.id}`} class="strong-link">
                  {d.name}
                </a>
              ),
            },
            { header: 'Description', cell: (d) => d.description ?? <span class="muted">—</span> },
            { header: 'Datalake', cell: (d) => <a href={`/datalake?lake=${d.datalake_id}`}>{d.datalake}</a> },
            { header: 'Versions', cell: (d) => d.versions.toLocaleString(), class: 'num' },
            { header: 'Created', cell: (d) => formatTime(d.created_at) },
          ]}
        />
      )}
      <NewDatasetDialog open={creating} onClose={() => setCreating(false)} onCreated={(d, v) => navigate(`/datasets/${d.id}/versions/${v.id}`)} />
    </div>
  );
}
