/*
 * Projects.tsx - /projects: every project of the organization, newest
 * first, with a name filter (in the URL) and a dialog to create one.
 */
import { useEffect, useState } from 'preact/hooks';
import { PageHeader } from '../../components/Bits';
import { Dialog } from '../../components/Dialog';
import { FormError, TextField, useForm } from '../../components/Form';
import { KeysetTable } from '../../components/Table';
import { api } from '../../lib/api';
import { formatTime } from '../../lib/format';
import { useKeysetList } from '../../lib/hooks';
import { can } from '../../lib/roles';
import { navigate, setQuery, useLocation } from '../../lib/router';
import { currentMe } from '../../lib/session';
import type { Project } from '../../lib/tracking';
import './projects.css';

export function ProjectsPage() {
  const loc = useLocation();
  const q = loc.query.get('q') ?? '';
  const [draft, setDraft] = useState(q);
  useEffect(() => setDraft(q), [q]);
  const [open, setOpen] = useState(false);
  const me = currentMe();
  const list = useKeysetList<Project>((cursor, signal) => api.list<Project>('/projects', { q, limit: 50, cursor }, signal), [q]);

  return (
    <div class="page">
      <PageHeader
        title="Projects"
        subtitle="Experiments grouped by project: parameters, metrics, logs and artifacts of every training run."
        actions={
          can(me?.role, 'write') && (
            <button type="button" class="button button-primary" onClick={() => setOpen(true)}>
              New project
            </button>
          )
        }
      />
      <form
        class="filters"
        aria-label="Filter projects"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery({ q: draft.trim() });
        }}
      >
        <label>
          Name contains
          <input type="search" value={draft} onInput={(e) => setDraft((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" class="button">
          Search
        </button>
      </form>
      <KeysetTable
        list={list}
        rowKey={(p) => p.id}
        caption="Projects"
        empty={
          q ? (
            'No project matches this name.'
          ) : (
            <>
              No projects yet. A training script creates one when it logs its first run:{' '}
              <code>client.run("my-project", params=…)</code> (see docs/tracking.md), or create one here.
            </>
          )
        }
        columns={[
          {
            header: 'Project',
            cell: (p) => (
              <a href={`/projects/${p.id}`} class="strong-link">
                {p.name}
              </a>
            ),
          },
          { header: 'Description', cell: (p) => <span class="muted clamp">{p.description || '—'}</span> },
          { header: 'Experiments', cell: (p) => p.experiments.toLocaleString('en-US'), class: 'num' },
          { header: 'Created', cell: (p) => formatTime(p.created_at) },
          { header: 'Updated', cell: (p) => formatTime(p.updated_at) },
        ]}
      />
      <NewProjectDialog open={open} onClose={() => setOpen(false)} />
    </div>
  );
}

function NewProjectDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const form = useForm(
    { name: '', description: '' },
    async (v) => {
      const p = await api.post<Project>('/projects', { name: v.name.trim(), description: v.description });
      onClose();
      form.reset();
      navigate(`/projects/${p.id}`);
    },
    { required: ['name'] },
  );
  return (
    <Dialog open={open} title="New project" onClose={onClose}>
      <form onSubmit={form.onSubmit} noValidate aria-label="New project">
        <TextField form={form} name="name" label="Name" autofocus hint="Unique in the organization; training scripts refer to it by this name." />
        <TextField form={form} name="description" label="Description" />
        <FormError message={form.formError} />
        <div class="dialog-actions">
          <button type="button" class="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={form.submitting}>
            Create project
          </button>
        </div>
      </form>
    </Dialog>
  );
}
