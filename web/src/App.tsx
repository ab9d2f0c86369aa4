/*
 * App.tsx - the shell: login gate, top bar (organization switcher, running
 * jobs, user menu), sidebar navigation, and the page for the current URL.
 *
 * A page is remounted when the organization changes (its key includes the
 * org id), so no page shows one organization's data under another's name.
 * After each navigation, focus moves to the page's <h1> so keyboard and
 * screen-reader users start at the new content.
 */
import { useEffect, useRef } from 'preact/hooks';
import { DialogHost } from './components/Dialog';
import { Menu } from './components/Menu';
import { Toasts } from './components/Toasts';
import { clearTrackedJobs, trackedJobs } from './lib/jobs';
import { matchPath, navigate, useLocation } from './lib/router';
import { logout, session } from './lib/session';
import { useStore } from './lib/store';
import { jobActive, type Me } from './lib/types';
import { NAV, navCurrent } from './nav';
import { LoginPage, Logo } from './pages/Login';
import { switchTo } from './pages/settings/Orgs';
import { ROUTES } from './routes';

export function App() {
  const s = useStore(session);
  if (s.status === 'loading')
    return (
      <div class="boot" role="status">
        Loading cvops…
      </div>
    );
  if (s.status === 'anonymous')
    return (
      <>
        <LoginPage notice={s.notice} />
        <Toasts />
      </>
    );
  return <Shell me={s.me} />;
}

function Shell({ me }: { me: Me }) {
  const loc = useLocation();
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    window.requestAnimationFrame(() => document.querySelector<HTMLElement>('main .page-title')?.focus({ preventScroll: true }));
    document.querySelector('main')?.scrollTo(0, 0);
  }, [loc.path]);

  let page = null;
  for (const r of ROUTES) {
    const params = matchPath(r.path, loc.path);
    if (params) {
      const C = r.component;
      page = <C key={`${me.org.id}:${r.path}:${params.id ?? ''}`} params={params} />;
      break;
    }
  }
  if (!page) page = <NotFound path={loc.path} />;

  return (
    <div class="app">
      <a class="skip-link" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        Skip to content
      </a>
      <header class="topbar">
        <a href="/" class="brand" aria-label="cvops home">
          <Logo /> <span>cvops</span>
        </a>
        <OrgSwitcher me={me} />
        <div class="topbar-spacer" />
        <ActiveJobs />
        <Menu
          id="user-menu"
          align="right"
          buttonLabel={`Account: ${me.user.username}`}
          label={<span class="user-chip">{me.user.display_name || me.user.username}</span>}
          items={[
            { label: 'Profile and password', href: '/settings/profile' },
            { label: 'API tokens', href: '/settings/tokens' },
            {
              label: 'Log out',
              separatorBefore: true,
              testId: 'logout',
              onSelect: () => {
                clearTrackedJobs();
                navigate('/', { replace: true });
                void logout();
              },
            },
          ]}
        />
      </header>
      <div class="layout">
        <nav class="sidebar" aria-label="Main">
          <ul>
            <li>
              <a href="/" class="nav-link" aria-current={loc.path === '/' ? 'page' : undefined}>
                Home
              </a>
            </li>
          </ul>
          {NAV.map((g) => (
            <div class="nav-group" key={g.label}>
              <h2 class="nav-group-label" id={`nav-${g.label}`}>
                {g.label}
              </h2>
              <ul aria-labelledby={`nav-${g.label}`}>
                {g.items.map((it) => (
                  <li key={it.href}>
                    <a href={it.href} class="nav-link" aria-current={navCurrent(loc.path, it) ? 'page' : undefined}>
                      {it.label}
                    </a>
                  </li>
                ))}
              </ul>
            </div>
          ))}
        </nav>
        <main id="main" tabIndex={-1}>
          {page}
        </main>
      </div>
      <Toasts />
      <DialogHost />
    </div>
  );
}

function OrgSwitcher({ me }: { me: Me }) {
  return (
    <Menu
      id="org-menu"
      buttonLabel={`Organization: ${me.org.name} (${me.role}). Switch organization`}
      label={
        <span class="org-chip">
          <span class="org-name">{me.org.name}</span>
          <span class="org-role">{me.role}</span>
        </span>
      }
      items={[
        ...me.orgs.map((o) => ({
          label: (
            <span>
              {o.name} <span class="muted">· {o.role}</span>
            </span>
          ),
          checked: o.id === me.org.id,
          onSelect: () => {
            if (o.id === me.org.id) return;
            clearTrackedJobs();
            const seg = window.location.pathname.split('/').filter(Boolean);
            /* a detail page (/jobs/12) belongs to the old organization: go to its list */
            if (seg.length > 1 && seg[0] !== 'settings' && seg[0] !== 'dev') navigate('/' + seg[0]);
            void switchTo(o);
          },
        })),
        { label: 'Manage organizations…', href: '/settings/organizations', separatorBefore: true },
      ]}
    />
  );
}

function ActiveJobs() {
  const jobs = useStore(trackedJobs);
  const n = jobs.filter(jobActive).length;
  if (!n) return null;
  return (
    <a href="/jobs" class="activity" aria-label={`${n} job${n > 1 ? 's' : ''} you started ${n > 1 ? 'are' : 'is'} running`}>
      <span class="spinner" aria-hidden="true" />
      {n} running
    </a>
  );
}

function NotFound({ path }: { path: string }) {
  return (
    <div class="page">
      <header class="page-header">
        <h1 class="page-title" tabIndex={-1}>
          No page here
        </h1>
      </header>
      <p>
        There is no page at <code>{path}</code>. <a href="/">Go to the home page.</a>
      </p>
    </div>
  );
}
