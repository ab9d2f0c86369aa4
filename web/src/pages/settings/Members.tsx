/*
 * Members.tsx - the organization's members. Everyone sees the list; admins
 * create users, add existing ones, change roles, disable and remove members.
 */
import { useState } from 'preact/hooks';
import { confirmDialog, Dialog } from '../../components/Dialog';
import { FormError, SelectField, TextField, useForm } from '../../components/Form';
import { DataTable, ErrorBox, type Column } from '../../components/Table';
import { toast } from '../../components/Toasts';
import { api, errorMessage } from '../../lib/api';
import { formatTime } from '../../lib/format';
import { useLoad } from '../../lib/hooks';
import { can, roleHelp } from '../../lib/roles';
import { currentMe, refreshMe } from '../../lib/session';
import { ROLES, type Role, type User } from '../../lib/types';

const roleOptions = ROLES.slice()
  .reverse()
  .map((r) => ({ value: r, label: `${r} — ${roleHelp[r]}` }));

export function MembersTab() {
  const me = currentMe();
  const admin = can(me?.role, 'admin');
  const users = useLoad((signal) => api.get<{ items: User[] }>('/users', undefined, signal), []);
  const [dialog, setDialog] = useState<'create' | 'add' | null>(null);
  const rows = users.data?.items ?? [];

  const replace = (u: User) => users.setData({ items: rows.map((x) => (x.id === u.id ? u : x)) });

  const setRole = async (u: User, role: Role) => {
    try {
      const nu = await api.patch<User>(`/users/${u.id}`, { role });
      replace(nu);
      toast(`${nu.username} is now ${nu.role}.`, { kind: 'success' });
      if (nu.id === me?.user.id) await refreshMe();
    } catch (e) {
      replace({ ...u });
      toast(errorMessage(e), { kind: 'error' });
    }
  };

  const setDisabled = async (u: User, disabled: boolean) => {
    try {
      const nu = await api.patch<User>(`/users/${u.id}`, { disabled });
      replace(nu);
      toast(`${nu.username} is ${nu.disabled ? 'disabled' : 'enabled'}.`, { kind: 'success' });
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    }
  };

  const remove = async (u: User) => {
    const ok = await confirmDialog({
      title: `Remove ${u.username}?`,
      message: `${u.username} loses access to ${me?.org.name} and their API tokens for it are revoked. Their account stays, and can be added back.`,
      confirmLabel: 'Remove member',
      danger: true,
    });
    if (!ok) return;
    try {
      await api.del(`/users/${u.id}`);
      users.setData({ items: rows.filter((x) => x.id !== u.id) });
      toast(`${u.username} was removed from ${me?.org.name}.`, { kind: 'success' });
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    }
  };

  const columns: Column<User>[] = [
    {
      header: 'User',
      cell: (u) => (
        <div>
          <strong>{u.username}</strong>
          {u.id === me?.user.id && <span class="muted"> (you)</span>}
          {u.display_name && <div class="muted">{u.display_name}</div>}
        </div>
      ),
    },
    { header: 'Email', cell: (u) => u.email ?? '—' },
    {
      header: 'Role',
      cell: (u) =>
        admin ? (
          <select
            key={u.id + u.role}
            aria-label={`Role of ${u.username}`}
            value={u.role}
            onChange={(e) => setRole(u, (e.target as HTMLSelectElement).value as Role)}
          >
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        ) : (
          u.role
        ),
    },
    { header: 'Status', cell: (u) => (u.disabled ? <span class="badge badge-failed">disabled</span> : <span class="badge badge-succeeded">active</span>) },
    { header: 'Created', cell: (u) => formatTime(u.created_at) },
  ];
  if (admin)
    columns.push({
      header: 'Actions',
      srOnlyHeader: true,
      class: 'col-actions',
      cell: (u) => (
        <div class="row-actions">
          <button type="button" class="button button-small" onClick={() => setDisabled(u, !u.disabled)} aria-label={`${u.disabled ? 'Enable' : 'Disable'} ${u.username}`}>
            {u.disabled ? 'Enable' : 'Disable'}
          </button>
          <button type="button" class="button button-small button-danger-quiet" onClick={() => remove(u)} aria-label={`Remove ${u.username}`}>
            Remove
          </button>
        </div>
      ),
    });

  return (
    <section aria-label="Members">
      <div class="section-bar">
        <p class="muted">
          Members of <strong>{me?.org.name}</strong>. Roles: viewer &lt; labeler &lt; member &lt; admin.
        </p>
        {admin && (
          <div class="page-actions">
            <button type="button" class="button" onClick={() => setDialog('add')}>
              Add existing user
            </button>
            <button type="button" class="button button-primary" onClick={() => setDialog('create')}>
              Create user
            </button>
          </div>
        )}
      </div>
      {users.error && <ErrorBox message={users.error} onRetry={users.reload} />}
      <DataTable columns={columns} rows={rows} rowKey={(u) => u.id} caption="Members" empty={users.loading ? 'Loading…' : 'No members.'} />
      <CreateUserDialog
        open={dialog === 'create'}
        onClose={() => setDialog(null)}
        onDone={(u) => users.setData({ items: [...rows.filter((x) => x.id !== u.id), u] })}
      />
      <AddMemberDialog
        open={dialog === 'add'}
        onClose={() => setDialog(null)}
        onDone={(u) => users.setData({ items: [...rows.filter((x) => x.id !== u.id), u] })}
      />
    </section>
  );
}

function CreateUserDialog({ open, onClose, onDone }: { open: boolean; onClose: () => void; onDone: (u: User) => void }) {
  const form = useForm(
    { username: '', password: '', display_name: '', email: '', role: 'member' },
    async (v) => {
      const body: Record<string, string> = { username: v.username.trim(), password: v.password, role: v.role };
      if (v.display_name.trim()) body.display_name = v.display_name.trim();
      if (v.email.trim()) body.email = v.email.trim();
      const u = await api.post<User>('/users', body);
      onDone(u);
      toast(`User ${u.username} created as ${u.role}.`, { kind: 'success' });
      form.reset();
      onClose();
    },
    { required: ['username', 'password'] },
  );
  return (
    <Dialog open={open} title="Create a user" onClose={onClose}>
      <form onSubmit={form.onSubmit} noValidate aria-label="Create a user">
        <TextField form={form} name="username" label="Username" autoComplete="off" autofocus />
        <TextField form={form} name="password" label="Password" type="password" autoComplete="new-password" hint="Tell the user; they can change it in Settings · Profile." />
        <TextField form={form} name="display_name" label="Display name (optional)" />
        <TextField form={form} name="email" label="Email (optional)" type="email" />
        <SelectField form={form} name="role" label="Role" options={roleOptions} />
        <FormError message={form.formError} />
        <div class="dialog-actions">
          <button type="button" class="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={form.submitting}>
            Create user
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function AddMemberDialog({ open, onClose, onDone }: { open: boolean; onClose: () => void; onDone: (u: User) => void }) {
  const form = useForm(
    { username: '', role: 'member' },
    async (v) => {
      const u = await api.post<User>('/members', { username: v.username.trim(), role: v.role });
      onDone(u);
      toast(`${u.username} was added as ${u.role}.`, { kind: 'success' });
      form.reset();
      onClose();
    },
    { required: ['username'] },
  );
  return (
    <Dialog open={open} title="Add an existing user" onClose={onClose}>
      <form onSubmit={form.onSubmit} noValidate aria-label="Add an existing user">
        <p class="muted">For someone who already has an account in another organization of this server.</p>
        <TextField form={form} name="username" label="Username" autoComplete="off" autofocus />
        <SelectField form={form} name="role" label="Role" options={roleOptions} />
        <FormError message={form.formError} />
        <div class="dialog-actions">
          <button type="button" class="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={form.submitting}>
            Add member
          </button>
        </div>
      </form>
    </Dialog>
  );
}
