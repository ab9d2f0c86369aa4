/*
 * JobFollow.tsx - a job started from a dialog (an import, an export),
 * followed where it was started: state, progress bar, the job's message,
 * and when it ends, its result or its error.
 *
 * GET /jobs/{id} every 400 ms while it runs (imports and exports of a few
 * thousand images take a second or two; a 10-second poll would feel dead).
 * The job is also handed to startedJob(), so it shows in the header and on
 * the Jobs page if the dialog is closed.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ProgressBar, StateBadge } from '../../components/Bits';
import { api } from '../../lib/api';
import { percent } from '../../lib/format';
import { jobActive, type Job } from '../../lib/types';

export function useJob(start: Job | null): Job | null {
  const [job, setJob] = useState<Job | null>(start);
  useEffect(() => {
    setJob(start);
    if (!start) return;
    let live = true;
    let timer = 0;
    const poll = async () => {
      try {
        const j = await api.get<Job>(`/jobs/${start.id}`);
        if (!live) return;
        setJob(j);
        if (!jobActive(j)) return;
      } catch {
        /* a hiccup: try again */
      }
      if (live) timer = window.setTimeout(poll, 400);
    };
    timer = window.setTimeout(poll, 150);
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [start?.id]);
  return job;
}

export function JobProgress({ job, label, children }: { job: Job; label: string; children?: ComponentChildren }) {
  return (
    <div class="job-follow" data-testid="job-follow" data-state={job.state}>
      <div class="job-progress">
        <StateBadge state={job.state} />
        <ProgressBar value={job.state === 'succeeded' ? 1 : job.progress} label={label} />
        <span class="job-progress-text" data-testid="job-progress">
          {percent(job.state === 'succeeded' ? 1 : job.progress)}
          {job.message ? ` · ${job.message}` : ''}
        </span>
      </div>
      {job.error && (
        <p class="job-error" role="alert">
          {job.error}
        </p>
      )}
      {children}
      <p class="muted job-follow-link">
        Job <a href={`/jobs/${job.id}`}>#{job.id}</a> · its log is on the Jobs page.
      </p>
    </div>
  );
}
