/*
 * Models.tsx - /models: the registry's models (name, task, versions, aliases),
 * searchable by name (?q=).
 */
import { Empty, PageHeader } from '../../components/Bits';
import { DataTable, ErrorBox } from '../../components/Table';
import { formatTime } from '../../lib/format';
import { useLoad } from '../../lib/hooks';
import { registry, type Model } from '../../lib/registry';
import { setQuery, useLocation } from '../../lib/router';
import { AliasChips } from './bits';
import './models.css';

export function ModelsPage() {
  const loc = useLocation();
  const q = loc.query.get('q') ?? '';
  const list = useLoad((signal) => registry.models(q, signal), [q]);
  return (
    <div class="page">
      <PageHeader
        title="Models"
        subtitle="The registry: every model's numbered versions with their files, labels, parameters, lineage and aliases."
      />
      <div class="filters">
        <label>
          Search models
          <input type="search" value={q} placeholder="name contains…" onInput={(e) => setQuery({ q: (e.target as HTMLInputElement).value || null })} />
        </label>
      </div>
      {list.error && <ErrorBox message={list.error} onRetry={list.reload} />}
      {list.data && list.data.length === 0 && !q ? (
        <Empty title="No model yet">
          <p>
            Publish an experiment from its page in <a href="/projects">Projects</a> (“Publish as model…”), or with{' '}
            <code>cvops model publish</code>; upload an external model's files with <code>cvops model create</code>.
          </p>
        </Empty>
      ) : (
        <DataTable<Model>
          caption="Models"
          rows={list.data ?? []}
          rowKey={(m) => m.id}
          empty={list.loading ? 'Loading…' : 'No model matches.'}
          columns={[
            {
              header: 'Name',
              cell: (m) => (
                <a href={`/models/${m.id}`} class="strong-link">
                  {m.name}
                </a>
              ),
            },
            { header: 'Task', cell: (m) => m.task_type ?? <span class="muted">—</span> },
            { header: 'Versions', cell: (m) => m.versions.toLocaleString(), class: 'num' },
            { header: 'Latest', cell: (m) => (m.latest_version ? `v${m.latest_version}` : '—') },
            { header: 'Aliases', cell: (m) => <AliasChips aliases={m.aliases} /> },
            { header: 'Tags', cell: (m) => (m.tags ?? []).map((t) => <span key={t} class="chip chip-small">{t}</span>) },
            { header: 'Created', cell: (m) => formatTime(m.created_at) },
          ]}
        />
      )}
    </div>
  );
}
