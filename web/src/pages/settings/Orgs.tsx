/*
 * Orgs.tsx - the organizations you belong to; create one (you become its
 * admin) and switch the session to it.
 */
import { useState } from 'preact/hooks';
import { Dialog } from '../../components/Dialog';
import { FormError, TextField, useForm } from '../../components/Form';
import { DataTable, type Column } from '../../components/Table';
import { toast } from '../../components/Toasts';
import { api, errorMessage } from '../../lib/api';
import { formatTime } from '../../lib/format';
import { refreshMe, switchOrg, currentMe } from '../../lib/session';
import { useStore } from '../../lib/store';
import { session } from '../../lib/session';
import type { OrgMembership } from '../../lib/types';

export async function switchTo(o: { id: number; name: string }) {
  try {
    await switchOrg(o.id);
    toast(`You are now working in ${o.name}.`, { kind: 'success' });
  } catch (e) {
    toast(errorMessage(e), { kind: 'error' });
  }
}

export function OrgsTab() {
  useStore(session);
  const me = currentMe();
  const [creating, setCreating] = useState(false);
  const rows = me?.orgs ?? [];
  const columns: Column<OrgMembership>[] = [
    {
      header: 'Organization',
      cell: (o) => (
        <span>
          <strong>{o.name}</strong>
          {o.id === me?.org.id && <span class="badge badge-running badge-inline">current</span>}
        </span>
      ),
    },
    { header: 'Your role', cell: (o) => o.role },
    { header: 'Created', cell: (o) => formatTime(o.created_at) },
    {
      header: 'Actions',
      srOnlyHeader: true,
      class: 'col-actions',
      cell: (o) =>
        o.id !== me?.org.id && (
          <button type="button" class="button button-small" onClick={() => switchTo(o)} aria-label={`Switch to ${o.name}`}>
            Switch to
          </button>
        ),
    },
  ];
  return (
    <section aria-label="Organizations">
      <div class="section-bar">
        <p class="muted">Data, models, jobs and tokens belong to one organization; members see only their organizations.</p>
        <button type="button" class="button button-primary" onClick={() => setCreating(true)}>
          Create organization
        </button>
      </div>
      <DataTable columns={columns} rows={rows} rowKey={(o) => o.id} caption="Organizations" />
      <CreateOrgDialog open={creating} onClose={() => setCreating(false)} />
    </section>
  );
}

function CreateOrgDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const form = useForm(
    { name: '' },
    async (v) => {
      const o = await api.post<{ id: number; name: string }>('/orgs', { name: v.name.trim() });
      await refreshMe();
      form.reset();
      onClose();
      toast(`Organization ${o.name} created; you are its admin.`, { kind: 'success' });
    },
    { required: ['name'] },
  );
  return (
    <Dialog open={open} title="Create an organization" onClose={onClose}>
      <form onSubmit={form.onSubmit} noValidate aria-label="Create an organization">
        <TextField form={form} name="name" label="Name" autofocus />
        <FormError message={form.formError} />
        <div class="dialog-actions">
          <button type="button" class="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={form.submitting}>
            Create organization
          </button>
        </div>
      </form>
    </Dialog>
  );
}
