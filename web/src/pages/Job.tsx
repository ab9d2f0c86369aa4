/*
 * Job.tsx - one job: its state and progress (re-read every second while it
 * is queued or running) and its log, followed with the API's long poll
 * (GET /jobs/{id}/log?after=N&wait=20: the request returns as soon as a line
 * arrives or the job ends).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { PageHeader, ProgressBar, StateBadge } from '../components/Bits';
import { ErrorBox } from '../components/Table';
import { toast } from '../components/Toasts';
import { api, errorMessage, isAbort } from '../lib/api';
import { formatTime, jobDuration, percent } from '../lib/format';
import { useInterval, useLoad } from '../lib/hooks';
import { can } from '../lib/roles';
import { currentMe } from '../lib/session';
import { jobActive, type Job, type LogLine, type LogPage } from '../lib/types';
import { JobActions } from './Jobs';

const MAX_LINES = 5000;

export function JobPage({ params }: { params: Record<string, string> }) {
  const id = params.id;
  const me = currentMe();
  const job = useLoad((signal) => api.get<Job>(`/jobs/${id}`, undefined, signal), [id]);
  const [logEpoch, setLogEpoch] = useState(0);
  const j = job.data;

  const refresh = () =>
    api.get<Job>(`/jobs/${id}`).then(job.setData, () => {
      /* next tick */
    });
  useInterval(refresh, 1000, !!j && jobActive(j));

  const act = async (op: 'cancel' | 'retry') => {
    try {
      job.setData(await api.post<Job>(`/jobs/${id}/${op}`));
      toast(op === 'cancel' ? `Cancel requested for job #${id}.` : `Job #${id} will run again.`, { kind: 'success' });
      if (op === 'retry') setLogEpoch((e) => e + 1);
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    }
  };

  if (job.error && !j)
    return (
      <div class="page">
        <PageHeader title={`Job #${id}`} crumbs={[{ href: '/jobs', label: 'Jobs' }]} />
        <ErrorBox message={job.error} onRetry={job.reload} />
      </div>
    );

  return (
    <div class="page">
      <PageHeader
        title={`Job #${id}`}
        subtitle={j ? <code>{j.kind}</code> : 'Loading…'}
        crumbs={[{ href: '/jobs', label: 'Jobs' }]}
        actions={j && can(me?.role, 'write') && <JobActions job={j} onAct={act} />}
      />
      {j && (
        <section class="card job-summary" aria-label="Status">
          <div class="job-progress">
            <StateBadge state={j.state} />
            <ProgressBar value={j.progress} label="Job progress" />
            <span class="job-progress-text" data-testid="job-progress">
              {percent(j.progress)}
              {j.message ? ` · ${j.message}` : ''}
            </span>
          </div>
          {j.cancel_requested && jobActive(j) && <p class="muted">Cancel requested; the job stops at its next check.</p>}
          {j.error && (
            <p class="job-error" role="alert">
              {j.error}
            </p>
          )}
          <dl class="facts">
            <dt>State</dt>
            <dd data-testid="job-state">{j.state}</dd>
            <dt>Attempts</dt>
            <dd>
              {j.attempts} of {j.max_attempts}
            </dd>
            <dt>Created</dt>
            <dd>{formatTime(j.created_at)}</dd>
            <dt>Started</dt>
            <dd>{formatTime(j.started_at)}</dd>
            <dt>Finished</dt>
            <dd>{formatTime(j.finished_at)}</dd>
            <dt>Duration</dt>
            <dd>{jobDuration(j.started_at, j.finished_at)}</dd>
            <dt>Worker</dt>
            <dd>{j.worker ? <code>{j.worker}</code> : '—'}</dd>
          </dl>
        </section>
      )}
      <JobLog id={id} epoch={logEpoch} onLines={refresh} />
      {j && (
        <div class="two-col">
          <section class="card">
            <h2>Payload</h2>
            <pre class="json">{JSON.stringify(j.payload, null, 2)}</pre>
          </section>
          <section class="card">
            <h2>Result</h2>
            <pre class="json">{j.result === null || j.result === undefined ? '—' : JSON.stringify(j.result, null, 2)}</pre>
          </section>
        </div>
      )}
    </div>
  );
}

export function JobLog({ id, epoch, onLines }: { id: string; epoch: number; onLines: () => void }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [following, setFollowing] = useState(true);
  const after = useRef(0);
  const box = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const onLinesRef = useRef(onLines);
  onLinesRef.current = onLines;

  useEffect(() => {
    after.current = 0;
    setLines([]);
  }, [id]);

  useEffect(() => {
    const ac = new AbortController();
    setFollowing(true);
    (async () => {
      while (!ac.signal.aborted) {
        try {
          const page = await api.get<LogPage>(`/jobs/${id}/log`, { after: after.current, wait: 20, limit: 1000 }, ac.signal);
          if (ac.signal.aborted) return;
          setError(null);
          if (page.items.length) {
            setLines((xs) => {
              const all = xs.concat(page.items);
              return all.length > MAX_LINES ? all.slice(all.length - MAX_LINES) : all;
            });
            onLinesRef.current();
          }
          after.current = page.next_after;
          if (page.finished && page.items.length < 1000) break;
        } catch (e) {
          if (ac.signal.aborted || isAbort(e)) return;
          setError(errorMessage(e));
          await new Promise((r) => window.setTimeout(r, 3000));
        }
      }
      if (!ac.signal.aborted) setFollowing(false);
    })();
    return () => ac.abort();
  }, [id, epoch]);

  useEffect(() => {
    const el = box.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [lines]);

  return (
    <section class="card" aria-labelledby="log-title">
      <div class="card-title-row">
        <h2 id="log-title">Log</h2>
        <span class="muted">{following ? 'following live' : 'complete'}</span>
      </div>
      {error && <ErrorBox message={error} />}
      <div
        ref={box}
        class="log"
        role="log"
        aria-label="Job log"
        tabIndex={0}
        data-testid="job-log"
        onScroll={(e) => {
          const el = e.currentTarget as HTMLElement;
          stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
        }}
      >
        {lines.length === 0 && <div class="log-empty">{following ? 'Waiting for the first line…' : 'The log is empty.'}</div>}
        {lines.map((l) => (
          <div key={l.seq} class="log-row">
            <time dateTime={l.at}>{formatTime(l.at)}</time>
            <span class="log-line">{l.line}</span>
          </div>
        ))}
      </div>
    </section>
  );
}
