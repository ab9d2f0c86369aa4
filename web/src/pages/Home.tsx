/* Home.tsx - where login lands: the product's three parts and recent jobs. */
import { PageHeader, ProgressCell, StateBadge } from '../components/Bits';
import { DataTable, ErrorBox } from '../components/Table';
import { api } from '../lib/api';
import { formatTime } from '../lib/format';
import { useInterval, useLoad } from '../lib/hooks';
import { NAV } from '../nav';
import { currentMe } from '../lib/session';
import { jobActive, type Job } from '../lib/types';
import type { Page } from '../lib/api';

export function HomePage() {
  const me = currentMe();
  const jobs = useLoad((signal) => api.list<Job>('/jobs', { limit: 5 }, signal), []);
  useInterval(jobs.reload, 3000, !!jobs.data?.items.some(jobActive));
  const name = me?.user.display_name || me?.user.username;
  return (
    <div class="page">
      <PageHeader title={`Welcome, ${name}`} subtitle={`You work in ${me?.org.name} as ${me?.role}.`} />
      <div class="parts">
        {NAV.filter((g) => g.part).map((g) => (
          <section class="card part" key={g.label} aria-labelledby={`part-${g.label}`}>
            <h2 id={`part-${g.label}`}>{g.label}</h2>
            <p class="muted">{g.part}</p>
            <ul class="part-links">
              {g.items.map((it) => (
                <li key={it.href}>
                  <a href={it.href}>{it.label}</a>
                  <span class="muted"> — {it.blurb}</span>
                </li>
              ))}
            </ul>
          </section>
        ))}
      </div>
      <section class="card" aria-labelledby="recent-jobs">
        <div class="card-title-row">
          <h2 id="recent-jobs">Recent jobs</h2>
          <a href="/jobs">All jobs</a>
        </div>
        {jobs.error && <ErrorBox message={jobs.error} onRetry={jobs.reload} />}
        <RecentJobs page={jobs.data} loading={jobs.loading} />
      </section>
    </div>
  );
}

function RecentJobs({ page, loading }: { page: Page<Job> | undefined; loading: boolean }) {
  return (
    <DataTable
      rows={page?.items ?? []}
      rowKey={(j) => j.id}
      caption="Recent jobs"
      empty={loading && !page ? 'Loading…' : 'No jobs yet.'}
      columns={[
        { header: 'Job', cell: (j) => <a href={`/jobs/${j.id}`}>#{j.id}</a>, class: 'col-id' },
        { header: 'Kind', cell: (j) => <code>{j.kind}</code> },
        { header: 'State', cell: (j) => <StateBadge state={j.state} /> },
        { header: 'Progress', cell: (j) => <ProgressCell value={j.progress} message={j.message} label={`Progress of job ${j.id}`} />, class: 'col-progress' },
        { header: 'Created', cell: (j) => formatTime(j.created_at) },
      ]}
    />
  );
}
