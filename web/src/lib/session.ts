/*
 * session.ts - who is logged in, in which organization, with which role.
 *
 * The web session is an HttpOnly cookie set by POST /auth/login; the UI never
 * sees it. What the UI keeps is GET /me's answer (user, org, role, orgs) and
 * the CSRF token that every write must send. States:
 *   loading   the first GET /me is in flight
 *   anonymous no session (or it ended): the login screen is shown
 *   ready     `me` is set
 */
import { api, ApiError, request, setCsrfToken, setUnauthenticatedHandler } from './api';
import { createStore } from './store';
import type { Me } from './types';

export type SessionState =
  | { status: 'loading' }
  | { status: 'anonymous'; notice?: string }
  | { status: 'ready'; me: Me };

export const session = createStore<SessionState>({ status: 'loading' });

function setMe(me: Me) {
  if (me.csrf_token) setCsrfToken(me.csrf_token);
  session.set({ status: 'ready', me });
}

export function currentMe(): Me | null {
  const s = session.get();
  return s.status === 'ready' ? s.me : null;
}

export async function loadSession() {
  setUnauthenticatedHandler(() => {
    if (session.get().status === 'ready') {
      setCsrfToken(null);
      session.set({ status: 'anonymous', notice: 'Your session has ended. Log in again to continue.' });
    }
  });
  try {
    setMe(await request<Me>('GET', '/me', { quiet401: true }));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) session.set({ status: 'anonymous' });
    else session.set({ status: 'anonymous', notice: (e as Error).message });
  }
}

export async function login(username: string, password: string) {
  const me = await request<Me>('POST', '/auth/login', { body: { username, password }, quiet401: true });
  setMe(me);
}

export async function logout() {
  try {
    await api.post('/auth/logout');
  } finally {
    setCsrfToken(null);
    session.set({ status: 'anonymous', notice: 'You have logged out.' });
  }
}

export async function switchOrg(orgId: number) {
  setMe(await api.post<Me>('/session/org', { org_id: orgId }));
}

/** Re-reads GET /me (after creating an organization, changing roles...). */
export async function refreshMe() {
  setMe(await api.get<Me>('/me'));
}
