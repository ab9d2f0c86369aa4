/*
 * jobs.ts - jobs started from this browser tab.
 *
 * Every long operation in cvops is a job. A dialog that starts one (an
 * import, a processing, a training run, the diagnostic sleep job) calls
 * startedJob(job) with the API's 202 answer: a toast links to the job, the
 * header's activity button counts it while it runs, and a toast says how it
 * ended. The Jobs page lists every job of the organization anyway; this is
 * only so that nothing a user starts disappears from sight.
 */
import { toast } from '../components/Toasts';
import { api } from './api';
import { createStore } from './store';
import { jobActive, type Job } from './types';

export const trackedJobs = createStore<Job[]>([]);
let timer: number | null = null;

export function startedJob(job: Job) {
  trackedJobs.update((xs) => [job, ...xs.filter((x) => x.id !== job.id)]);
  toast(`Job #${job.id} (${job.kind}) started.`, { link: { href: `/jobs/${job.id}`, label: 'View job' } });
  schedule();
}

function schedule() {
  if (timer !== null) return;
  timer = window.setTimeout(poll, 1500);
}

async function poll() {
  timer = null;
  const active = trackedJobs.get().filter(jobActive);
  if (!active.length) return;
  const fresh = await Promise.all(active.map((j) => api.get<Job>(`/jobs/${j.id}`).catch(() => j)));
  trackedJobs.update((xs) =>
    xs.map((x) => {
      const f = fresh.find((y) => y.id === x.id);
      if (f && jobActive(x) && !jobActive(f)) {
        const kind = f.state === 'succeeded' ? 'success' : f.state === 'failed' ? 'error' : 'info';
        toast(`Job #${f.id} (${f.kind}) ${f.state}.${f.error ? ' ' + f.error : ''}`, {
          kind,
          link: { href: `/jobs/${f.id}`, label: 'View job' },
        });
      }
      return f ?? x;
    }),
  );
  if (trackedJobs.get().some(jobActive)) schedule();
}

/** Forget tracked jobs (on logout or organization switch). */
export function clearTrackedJobs() {
  trackedJobs.set([]);
}
