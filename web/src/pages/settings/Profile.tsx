/* Profile.tsx - who you are, and a new password. */
import { FormError, TextField, useForm } from '../../components/Form';
import { toast } from '../../components/Toasts';
import { api } from '../../lib/api';
import { roleHelp } from '../../lib/roles';
import { currentMe } from '../../lib/session';

export function ProfileTab() {
  const me = currentMe();
  const form = useForm(
    { old_password: '', new_password: '', confirm: '' },
    async (v) => {
      if (v.new_password !== v.confirm) throw new Error('The two new passwords differ; type the same password twice.');
      await api.put('/me/password', { old_password: v.old_password, new_password: v.new_password });
      form.reset();
      toast('Your password was changed.', { kind: 'success' });
    },
    { required: ['old_password', 'new_password', 'confirm'] },
  );
  if (!me) return null;
  return (
    <div class="two-col">
      <section class="card" aria-labelledby="profile-title">
        <h2 id="profile-title">You</h2>
        <dl class="facts">
          <dt>Username</dt>
          <dd>{me.user.username}</dd>
          <dt>Display name</dt>
          <dd>{me.user.display_name ?? '—'}</dd>
          <dt>Email</dt>
          <dd>{me.user.email ?? '—'}</dd>
          <dt>Organization</dt>
          <dd>{me.org.name}</dd>
          <dt>Role</dt>
          <dd>
            {me.role} ({roleHelp[me.role]})
          </dd>
        </dl>
      </section>
      <section class="card" aria-labelledby="password-title">
        <h2 id="password-title">Change password</h2>
        <form onSubmit={form.onSubmit} noValidate aria-label="Change password">
          <TextField form={form} name="old_password" label="Current password" type="password" autoComplete="current-password" />
          <TextField form={form} name="new_password" label="New password" type="password" autoComplete="new-password" />
          <TextField form={form} name="confirm" label="New password, again" type="password" autoComplete="new-password" />
          <FormError message={form.formError} />
          <button type="submit" class="button button-primary" disabled={form.submitting}>
            Change password
          </button>
        </form>
      </section>
    </div>
  );
}
