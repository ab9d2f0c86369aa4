/*
 * Tokens.tsx - your API tokens (for the CLI, scripts, training code). The
 * secret is shown once, right after creation, with a copy button; the server
 * keeps only its hash.
 */
import { useState } from 'preact/hooks';
import { CopyButton } from '../../components/Bits';
import { confirmDialog, Dialog } from '../../components/Dialog';
import { FormError, TextField, useForm } from '../../components/Form';
import { DataTable, ErrorBox, type Column } from '../../components/Table';
import { toast } from '../../components/Toasts';
import { api, errorMessage } from '../../lib/api';
import { formatTime } from '../../lib/format';
import { useLoad } from '../../lib/hooks';
import { currentMe } from '../../lib/session';
import type { NewToken, Token } from '../../lib/types';

function status(t: Token): string {
  if (t.revoked_at) return 'revoked';
  if (t.expires_at && Date.parse(t.expires_at) < Date.now()) return 'expired';
  return 'active';
}

export function TokensTab() {
  const me = currentMe();
  const tokens = useLoad((signal) => api.get<{ items: Token[] }>('/tokens', undefined, signal), []);
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<NewToken | null>(null);
  const rows = tokens.data?.items ?? [];

  const revoke = async (t: Token) => {
    const ok = await confirmDialog({
      title: `Revoke token “${t.name}”?`,
      message: 'Programs using it get 401 from now on. This cannot be undone; create a new token if you need one.',
      confirmLabel: 'Revoke token',
      danger: true,
    });
    if (!ok) return;
    try {
      await api.del(`/tokens/${t.id}`);
      toast(`Token “${t.name}” revoked.`, { kind: 'success' });
      tokens.reload();
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    }
  };

  const columns: Column<Token>[] = [
    { header: 'Name', cell: (t) => <strong>{t.name}</strong> },
    { header: 'Starts with', cell: (t) => <code>{t.prefix}…</code> },
    { header: 'Organization', cell: (t) => t.org },
    { header: 'Created', cell: (t) => formatTime(t.created_at) },
    { header: 'Last used', cell: (t) => (t.last_used_at ? formatTime(t.last_used_at) : 'never') },
    { header: 'Expires', cell: (t) => (t.expires_at ? formatTime(t.expires_at) : 'never') },
    {
      header: 'Status',
      cell: (t) => {
        const s = status(t);
        return <span class={`badge badge-${s === 'active' ? 'succeeded' : 'canceled'}`}>{s}</span>;
      },
    },
    {
      header: 'Actions',
      srOnlyHeader: true,
      class: 'col-actions',
      cell: (t) =>
        status(t) === 'active' && (
          <button type="button" class="button button-small button-danger-quiet" onClick={() => revoke(t)} aria-label={`Revoke token ${t.name}`}>
            Revoke
          </button>
        ),
    },
  ];

  return (
    <section aria-label="API tokens">
      <div class="section-bar">
        <p class="muted">
          A token acts as you in the organization it was created in (now: <strong>{me?.org.name}</strong>). Use it as{' '}
          <code>Authorization: Bearer …</code> or with <code>cvops login --token</code>.
        </p>
        <button type="button" class="button button-primary" onClick={() => setCreating(true)}>
          Create token
        </button>
      </div>
      {tokens.error && <ErrorBox message={tokens.error} onRetry={tokens.reload} />}
      <DataTable columns={columns} rows={rows} rowKey={(t) => t.id} caption="API tokens" empty={tokens.loading ? 'Loading…' : 'You have no API tokens.'} rowClass={(t) => (status(t) === 'active' ? undefined : 'row-muted')} />
      <CreateTokenDialog
        open={creating}
        onClose={() => setCreating(false)}
        onCreated={(t) => {
          setCreating(false);
          setSecret(t);
          tokens.reload();
        }}
      />
      <Dialog
        open={!!secret}
        title="Your new API token"
        onClose={() => setSecret(null)}
        footer={
          <button type="button" class="button button-primary" onClick={() => setSecret(null)}>
            Done
          </button>
        }
      >
        {secret && (
          <div>
            <p>
              Copy the token <strong>{secret.name}</strong> now: it is shown only once.
            </p>
            <div class="secret">
              <label for="new-token-secret" class="sr-only">
                Token secret
              </label>
              <input id="new-token-secret" class="mono" readOnly value={secret.token} onFocus={(e) => (e.target as HTMLInputElement).select()} data-testid="token-secret" />
              <CopyButton text={secret.token} />
            </div>
          </div>
        )}
      </Dialog>
    </section>
  );
}

function CreateTokenDialog({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: (t: NewToken) => void }) {
  const form = useForm(
    { name: '', expires_in_days: '' },
    async (v) => {
      const body: Record<string, unknown> = { name: v.name.trim() };
      if (v.expires_in_days.trim()) body.expires_in_days = Number(v.expires_in_days);
      const t = await api.post<NewToken>('/tokens', body);
      form.reset();
      onCreated(t);
    },
    { required: ['name'] },
  );
  return (
    <Dialog open={open} title="Create an API token" onClose={onClose}>
      <form onSubmit={form.onSubmit} noValidate aria-label="Create an API token">
        <TextField form={form} name="name" label="Name" hint="What will use it, e.g. “laptop CLI” or “training server”." autofocus />
        <TextField form={form} name="expires_in_days" label="Expires after (days, optional)" type="number" min={1} hint="Empty: never expires." />
        <FormError message={form.formError} />
        <div class="dialog-actions">
          <button type="button" class="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={form.submitting}>
            Create token
          </button>
        </div>
      </form>
    </Dialog>
  );
}
