/*
 * Login.tsx - the login screen, shown whenever there is no session. The
 * API's answer to a failed login is shown as it is worded.
 */
import { FormError, TextField, useForm } from '../components/Form';
import { login } from '../lib/session';

export function LoginPage({ notice }: { notice?: string }) {
  const form = useForm({ username: '', password: '' }, (v) => login(v.username.trim(), v.password), {
    required: ['username', 'password'],
  });
  return (
    <div class="login">
      <main class="login-card" id="main">
        <div class="brand brand-large" aria-hidden="true">
          <Logo /> cvops
        </div>
        <h1>Log in</h1>
        {notice && (
          <p class="notice" role="status">
            {notice}
          </p>
        )}
        <form onSubmit={form.onSubmit} noValidate aria-label="Log in">
          <TextField form={form} name="username" label="Username" autoComplete="username" autofocus />
          <TextField form={form} name="password" label="Password" type="password" autoComplete="current-password" />
          <FormError message={form.formError} />
          <button type="submit" class="button button-primary button-block" disabled={form.submitting}>
            {form.submitting ? 'Logging in…' : 'Log in'}
          </button>
        </form>
        <p class="login-help">
          The first start of <code>cvops serve</code> prints the <code>admin</code> password; an administrator creates the other accounts.
        </p>
      </main>
    </div>
  );
}

export function Logo() {
  return (
    <svg class="logo" viewBox="0 0 32 32" width="28" height="28" aria-hidden="true" focusable="false">
      <rect x="2" y="2" width="28" height="28" rx="7" fill="currentColor" />
      <rect x="8" y="9" width="16" height="13" rx="2" fill="none" stroke="#fff" stroke-width="2.2" />
      <circle cx="16" cy="15.5" r="3" fill="#fff" />
    </svg>
  );
}
