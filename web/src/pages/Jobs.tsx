/*
 * Jobs.tsx - every job of the organization, newest first, with live progress.
 *
 * The list pages through GET /jobs with keyset "load more"; filters (state,
 * kind) live in the URL. While the page is visible it re-reads the first
 * page every 2 s (new jobs appear on top, known ones update) and re-reads
 * any other loaded job that is still queued or running.
 */
import { useEffect, useState } from 'preact/hooks';
import { PageHeader, ProgressCell, StateBadge } from '../components/Bits';
import { Dialog } from '../components/Dialog';
import { FormError, TextField, useForm } from '../components/Form';
import { KeysetTable, type Column } from '../components/Table';
import { toast } from '../components/Toasts';
import { api, errorMessage } from '../lib/api';
import { formatTime, jobDuration } from '../lib/format';
import { useInterval, useKeysetList } from '../lib/hooks';
import { startedJob } from '../lib/jobs';
import { can } from '../lib/roles';
import { setQuery, useLocation } from '../lib/router';
import { currentMe } from '../lib/session';
import { JOB_STATES, jobActive, type Job } from '../lib/types';

const PAGE = 50;

export function JobsPage() {
  const loc = useLocation();
  const state = loc.query.get('state') ?? '';
  const kind = loc.query.get('kind') ?? '';
  const me = currentMe();
  const canWrite = can(me?.role, 'write');
  const isAdmin = can(me?.role, 'admin');
  const [kindDraft, setKindDraft] = useState(kind);
  useEffect(() => setKindDraft(kind), [kind]); // back/forward changes the URL's filter
  const [runOpen, setRunOpen] = useState(false);

  const list = useKeysetList<Job>(
    (cursor, signal) => api.list<Job>('/jobs', { state, kind, limit: PAGE, cursor }, signal),
    [state, kind],
  );

  useInterval(
    async () => {
      if (list.loading) return;
      try {
        const first = await api.list<Job>('/jobs', { state, kind, limit: PAGE });
        const byId = new Map(first.items.map((j) => [j.id, j]));
        const loadedActive = list.items.filter((j) => jobActive(j) && !byId.has(j.id)).slice(0, 20);
        const more = await Promise.all(loadedActive.map((j) => api.get<Job>(`/jobs/${j.id}`).catch(() => j)));
        for (const j of more) byId.set(j.id, j);
        list.setItems((old) => {
          const newest = old.length ? old[0].id : 0;
          const known = new Set(old.map((j) => j.id));
          const added = first.items.filter((j) => !known.has(j.id) && j.id > newest);
          return [...added, ...old.map((j) => byId.get(j.id) ?? j)];
        });
      } catch {
        /* the next tick tries again; a lost session is handled by the API module */
      }
    },
    2000,
    !list.error,
  );

  const act = async (job: Job, op: 'cancel' | 'retry') => {
    try {
      const j = await api.post<Job>(`/jobs/${job.id}/${op}`);
      list.setItems((xs) => xs.map((x) => (x.id === j.id ? j : x)));
      toast(op === 'cancel' ? `Cancel requested for job #${j.id}.` : `Job #${j.id} will run again.`, { kind: 'success' });
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    }
  };

  const columns: Column<Job>[] = [
    { header: 'Job', cell: (j) => <a href={`/jobs/${j.id}`}>#{j.id}</a>, class: 'col-id' },
    { header: 'Kind', cell: (j) => <code>{j.kind}</code> },
    { header: 'State', cell: (j) => <StateBadge state={j.state} /> },
    {
      header: 'Progress',
      cell: (j) => <ProgressCell value={j.progress} message={j.error ?? j.message} label={`Progress of job ${j.id}`} />,
      class: 'col-progress',
    },
    { header: 'Created', cell: (j) => formatTime(j.created_at) },
    { header: 'Duration', cell: (j) => jobDuration(j.started_at, j.finished_at) },
    { header: 'Attempts', cell: (j) => `${j.attempts} / ${j.max_attempts}`, class: 'num' },
  ];
  if (canWrite)
    columns.push({
      header: 'Actions',
      srOnlyHeader: true,
      class: 'col-actions',
      cell: (j) => <JobActions job={j} onAct={(op) => act(j, op)} />,
    });

  return (
    <div class="page">
      <PageHeader
        title="Jobs"
        subtitle="Every long operation — imports, processings, training, exports — runs as a job with progress and a log."
        actions={
          isAdmin && (
            <button type="button" class="button button-primary" onClick={() => setRunOpen(true)}>
              Run diagnostic job
            </button>
          )
        }
      />
      <form
        class="filters"
        aria-label="Filter jobs"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery({ kind: kindDraft.trim() });
        }}
      >
        <label>
          State
          <select value={state} onChange={(e) => setQuery({ state: (e.target as HTMLSelectElement).value })}>
            <option value="">any</option>
            {JOB_STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Kind
          <input
            type="search"
            value={kindDraft}
            placeholder="e.g. system.sleep"
            onInput={(e) => setKindDraft((e.target as HTMLInputElement).value)}
            onBlur={() => kindDraft.trim() !== kind && setQuery({ kind: kindDraft.trim() })}
          />
        </label>
        <button type="submit" class="button">
          Apply
        </button>
        {(state || kind) && (
          <button
            type="button"
            class="button button-link"
            onClick={() => {
              setKindDraft('');
              setQuery({ state: null, kind: null });
            }}
          >
            Clear filters
          </button>
        )}
      </form>
      {!canWrite && <p class="muted">Your role ({me?.role}) can follow jobs but not cancel or retry them.</p>}
      <KeysetTable
        list={list}
        columns={columns}
        rowKey={(j) => j.id}
        caption="Jobs"
        empty={state || kind ? 'No job matches these filters.' : 'No jobs yet. Jobs appear here when you import data, run a processing or train a model.'}
      />
      <RunJobDialog open={runOpen} onClose={() => setRunOpen(false)} onStarted={(j) => list.setItems((xs) => (xs.some((x) => x.id === j.id) ? xs : [j, ...xs]))} />
    </div>
  );
}

export function JobActions({ job, onAct }: { job: Job; onAct: (op: 'cancel' | 'retry') => void }) {
  if (jobActive(job))
    return (
      <button type="button" class="button button-small" disabled={job.cancel_requested} onClick={() => onAct('cancel')} aria-label={`Cancel job ${job.id}`}>
        {job.cancel_requested ? 'Canceling…' : 'Cancel'}
      </button>
    );
  if (job.state === 'failed' || job.state === 'canceled')
    return (
      <button type="button" class="button button-small" onClick={() => onAct('retry')} aria-label={`Retry job ${job.id}`}>
        Retry
      </button>
    );
  return null;
}

/**
 * Starts the diagnostic `system.sleep` job (admins). It is also the model for
 * every dialog that starts a job: POST, then startedJob() with the answer.
 */
function RunJobDialog({ open, onClose, onStarted }: { open: boolean; onClose: () => void; onStarted: (j: Job) => void }) {
  const form = useForm(
    { seconds: '20', steps: '20', fail_times: '0' },
    async (v) => {
      const job = await api.post<Job>('/jobs', {
        kind: 'system.sleep',
        payload: { ms: Math.round(Number(v.seconds) * 1000), steps: Number(v.steps), fail_times: Number(v.fail_times) },
      });
      startedJob(job);
      onStarted(job);
      onClose();
      form.reset();
    },
    { required: ['seconds', 'steps'] },
  );
  return (
    <Dialog open={open} title="Run a diagnostic job" onClose={onClose}>
      <form onSubmit={form.onSubmit} noValidate aria-label="Run a diagnostic job">
        <p class="muted">
          <code>system.sleep</code> sleeps in steps and reports its progress: a way to check that workers pick up jobs.
        </p>
        <div class="form-row">
          <TextField form={form} name="seconds" label="Duration (seconds)" type="number" min={0} autofocus />
          <TextField form={form} name="steps" label="Steps" type="number" min={1} />
          <TextField form={form} name="fail_times" label="Fail the first attempts" type="number" min={0} hint="Retried with backoff." />
        </div>
        <FormError message={form.formError} />
        <div class="dialog-actions">
          <button type="button" class="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={form.submitting}>
            Start job
          </button>
        </div>
      </form>
    </Dialog>
  );
}
