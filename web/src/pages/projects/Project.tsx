/*
 * Project.tsx - /projects/{id}: the experiment table.
 *
 * One request per page of 50 (GET /projects/{id}/experiments, keyset
 * pages, "load more"): the API sorts and filters, and returns the chosen
 * parameters and latest metrics as columns with indexed joins, so the first
 * page costs the same with 10 or 10,000 experiments. Everything that
 * defines the view is in the URL (filters, sort, columns), so it can be
 * shared; the columns are also remembered per project in localStorage.
 * Column choices come from GET /projects/{id}/keys.
 *
 * While the page is visible the first page is re-read every 3 s and merged
 * (statuses and latest metrics move live; new experiments appear on top when
 * sorted by creation), and loaded experiments that are still running
 * further down are re-read one by one.
 *
 * Checkboxes pick experiments to compare (/projects/{id}/compare?ids=).
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { PageHeader, StateBadge } from '../../components/Bits';
import { confirmDialog, Dialog } from '../../components/Dialog';
import { ErrorBox, LoadMore } from '../../components/Table';
import { toast } from '../../components/Toasts';
import { api, errorMessage } from '../../lib/api';
import { formatTime, jobDuration } from '../../lib/format';
import { useInterval, useKeysetList, useLoad } from '../../lib/hooks';
import { can } from '../../lib/roles';
import { navigate, setQuery, useLocation } from '../../lib/router';
import { currentMe } from '../../lib/session';
import {
  EXP_STATUSES,
  expActive,
  expHref,
  formatValue,
  paramText,
  type Experiment,
  type ExperimentRow,
  type Project,
  type ProjectKeys,
} from '../../lib/tracking';
import './projects.css';

const PAGE = 50;
const MAX_COLUMNS = 20; // the API's bound per kind
const COMPARE_MAX = 50;

function splitList(s: string | null): string[] | null {
  if (s === null) return null;
  return s.split(',').filter(Boolean);
}

function storedColumns(project: string): { params: string[]; metrics: string[] } | null {
  try {
    const v = JSON.parse(window.localStorage.getItem(`cvops.columns.${project}`) ?? 'null');
    if (v && Array.isArray(v.params) && Array.isArray(v.metrics)) return v;
  } catch {
    /* unreadable: defaults */
  }
  return null;
}

export function ProjectPage({ params }: { params: Record<string, string> }) {
  const pid = params.id;
  const loc = useLocation();
  const me = currentMe();
  const status = loc.query.get('status') ?? '';
  const tag = loc.query.get('tag') ?? '';
  const q = loc.query.get('q') ?? '';
  const order = loc.query.get('order') ?? '-created';
  const [qDraft, setQDraft] = useState(q);
  useEffect(() => setQDraft(q), [q]);
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [chooser, setChooser] = useState(false);

  const project = useLoad((signal) => api.get<Project>(`/projects/${pid}`, undefined, signal), [pid]);
  const keys = useLoad((signal) => api.get<ProjectKeys>(`/projects/${pid}/keys`, undefined, signal), [pid]);

  /* columns: the URL, else what was chosen last time, else the first few names */
  const stored = useMemo(() => storedColumns(pid), [pid]);
  const urlParams = splitList(loc.query.get('params'));
  const urlMetrics = splitList(loc.query.get('metrics'));
  const paramCols = urlParams ?? stored?.params ?? keys.data?.params.slice(0, 3) ?? null;
  const metricCols = urlMetrics ?? stored?.metrics ?? keys.data?.metrics.slice(0, 3) ?? null;
  const colsReady = paramCols !== null && metricCols !== null;
  const pc = (paramCols ?? []).join(',');
  const mc = (metricCols ?? []).join(',');

  const query = { status, tag, q, order_by: order, params: pc, metrics: mc, limit: PAGE };
  const list = useKeysetList<ExperimentRow>(
    (cursor, signal) =>
      colsReady || keys.error
        ? api.list<ExperimentRow>(`/projects/${pid}/experiments`, { ...query, cursor }, signal)
        : new Promise(() => {
            /* waits for the column names */
          }),
    [pid, status, tag, q, order, pc, mc, colsReady || !!keys.error],
  );

  useInterval(
    async () => {
      if (list.loading) return;
      try {
        const first = await api.list<ExperimentRow>(`/projects/${pid}/experiments`, query);
        const byId = new Map(first.items.map((x) => [x.id, x]));
        const stale = list.items.filter((x) => expActive(x.status) && !byId.has(x.id)).slice(0, 20);
        const fresh = await Promise.all(stale.map((x) => api.get<Experiment>(`/experiments/${x.id}`).then((e) => rowFrom(e, x)).catch(() => x)));
        for (const x of fresh) byId.set(x.id, x);
        list.setItems((old) => {
          const known = new Set(old.map((x) => x.id));
          const newest = old.reduce((m, x) => Math.max(m, x.id), 0);
          const added = order === '-created' ? first.items.filter((x) => !known.has(x.id) && x.id > newest) : [];
          return [...added, ...old.map((x) => byId.get(x.id) ?? x)];
        });
      } catch {
        /* the next tick tries again */
      }
    },
    3000,
    !list.error && colsReady,
  );

  const sortBy = (key: string, firstDesc: boolean) => {
    const cur = order.replace(/^-/, '');
    const desc = order.startsWith('-');
    const next = cur === key ? (desc ? key : '-' + key) : firstDesc ? '-' + key : key;
    setQuery({ order: next === '-created' ? null : next });
  };
  const sortState = (key: string): 'ascending' | 'descending' | undefined =>
    order.replace(/^-/, '') === key ? (order.startsWith('-') ? 'descending' : 'ascending') : undefined;

  const toggle = (id: number) =>
    setSelected((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  const allShown = list.items.length > 0 && list.items.every((x) => selected.has(x.id));

  const applyColumns = (params: string[], metrics: string[]) => {
    try {
      window.localStorage.setItem(`cvops.columns.${pid}`, JSON.stringify({ params, metrics }));
    } catch {
      /* private mode: the URL still holds them */
    }
    setQuery({ params: params.join(',') || ',', metrics: metrics.join(',') || ',' });
  };

  const deleteProject = async () => {
    const p = project.data;
    if (!p) return;
    const ok = await confirmDialog({
      title: `Delete project ${p.name}?`,
      message: `This deletes the project and its ${p.experiments.toLocaleString('en-US')} experiments with their metrics, logs, output and artifact lists. It cannot be undone.`,
      confirmLabel: 'Delete project',
      danger: true,
    });
    if (!ok) return;
    try {
      await api.del(`/projects/${p.id}`);
      toast(`Project ${p.name} deleted.`, { kind: 'success' });
      navigate('/projects');
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    }
  };

  const filtered = !!(status || tag || q);
  const p = project.data;
  const sel = [...selected];
  const header = (label: string, key: string, firstDesc: boolean, hint?: string) => (
    <th key={key} scope="col" aria-sort={sortState(key)}>
      <button type="button" class="sort-button" onClick={() => sortBy(key, firstDesc)}>
        {label}
        {hint && <span class="col-hint">{hint}</span>}
        <span class="sort-mark" aria-hidden="true">
          {sortState(key) === 'ascending' ? '▲' : sortState(key) === 'descending' ? '▼' : ''}
        </span>
      </button>
    </th>
  );

  if (project.error && !p)
    return (
      <div class="page">
        <PageHeader title="Project" crumbs={[{ href: '/projects', label: 'Projects' }]} />
        <ErrorBox message={project.error} onRetry={project.reload} />
      </div>
    );

  return (
    <div class="page">
      <PageHeader
        title={p ? p.name : 'Project'}
        crumbs={[{ href: '/projects', label: 'Projects' }]}
        subtitle={p ? `${p.description ? p.description + ' · ' : ''}${p.experiments.toLocaleString('en-US')} experiment${p.experiments === 1 ? '' : 's'}` : 'Loading…'}
        actions={
          p &&
          can(me?.role, 'write') && (
            <button type="button" class="button button-danger-quiet" onClick={deleteProject}>
              Delete project
            </button>
          )
        }
      />
      <form
        class="filters"
        aria-label="Filter experiments"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery({ q: qDraft.trim() });
        }}
      >
        <label>
          Name contains
          <input
            type="search"
            value={qDraft}
            onInput={(e) => setQDraft((e.target as HTMLInputElement).value)}
            onBlur={() => qDraft.trim() !== q && setQuery({ q: qDraft.trim() })}
          />
        </label>
        <label>
          Status
          <select value={status} onChange={(e) => setQuery({ status: (e.target as HTMLSelectElement).value })}>
            <option value="">any</option>
            {EXP_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Tag
          <select value={tag} onChange={(e) => setQuery({ tag: (e.target as HTMLSelectElement).value })}>
            <option value="">any</option>
            {[...new Set([...(keys.data?.tags ?? []), ...(tag ? [tag] : [])])].map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" class="button">
          Apply
        </button>
        {filtered && (
          <button type="button" class="button button-link" onClick={() => setQuery({ status: null, tag: null, q: null })}>
            Clear filters
          </button>
        )}
        <span class="filters-spacer" />
        <button type="button" class="button" onClick={() => setChooser(true)} disabled={!keys.data}>
          Columns…
        </button>
      </form>

      <div class="selection-bar" role="region" aria-label="Selected experiments">
        <span data-testid="selection-count">
          {sel.length ? `${sel.length} selected` : 'Select experiments to compare them.'}
        </span>
        <button
          type="button"
          class="button button-primary button-small"
          disabled={sel.length < 2 || sel.length > COMPARE_MAX}
          onClick={() => navigate(`/projects/${pid}/compare?ids=${sel.join(',')}`)}
        >
          Compare{sel.length >= 2 ? ` ${sel.length}` : ''}
        </button>
        {sel.length > 0 && (
          <button type="button" class="button button-link button-small" onClick={() => setSelected(new Set())}>
            Clear selection
          </button>
        )}
        {sel.length > COMPARE_MAX && <span class="muted">Compare at most {COMPARE_MAX} at once.</span>}
      </div>

      <div aria-busy={list.loading}>
        {list.error && <ErrorBox message={list.error} onRetry={list.reload} />}
        <div class="table-wrap">
          <table class="table exp-table">
            <caption class="sr-only">Experiments of {p?.name ?? 'the project'}</caption>
            <thead>
              <tr>
                <th scope="col" class="col-check">
                  <input
                    type="checkbox"
                    aria-label="Select all experiments shown"
                    checked={allShown}
                    onChange={() =>
                      setSelected((s) => {
                        const n = new Set(s);
                        for (const x of list.items) allShown ? n.delete(x.id) : n.add(x.id);
                        return n;
                      })
                    }
                  />
                </th>
                {header('Name', 'name', false)}
                {header('Status', 'status', false)}
                {header('Created', 'created', true)}
                <th scope="col">Duration</th>
                {(metricCols ?? []).map((k) => header(k, `metric:${k}`, false, 'last'))}
                {(paramCols ?? []).map((k) => header(k, `param:${k}`, false, 'param'))}
                <th scope="col">Tags</th>
              </tr>
            </thead>
            <tbody>
              {list.items.length === 0 && !list.error && (
                <tr>
                  <td colSpan={6 + (paramCols?.length ?? 0) + (metricCols?.length ?? 0)} class="table-empty">
                    {list.loading ? 'Loading…' : filtered ? 'No experiment matches these filters.' : <NoExperiments name={p?.name} />}
                  </td>
                </tr>
              )}
              {list.items.map((x) => (
                <tr key={x.id} class={selected.has(x.id) ? 'row-selected' : undefined}>
                  <td class="col-check">
                    <input type="checkbox" aria-label={`Select ${x.name}`} checked={selected.has(x.id)} onChange={() => toggle(x.id)} />
                  </td>
                  <td>
                    <a href={expHref(x)} class="strong-link">
                      {x.name}
                    </a>
                  </td>
                  <td>
                    <StateBadge state={x.status} />
                  </td>
                  <td class="nowrap">{formatTime(x.created_at)}</td>
                  <td class="nowrap">{jobDuration(x.started_at, x.finished_at)}</td>
                  {(metricCols ?? []).map((k) => {
                    const m = x.metrics?.[k];
                    return (
                      <td key={'m' + k} class="num mono" title={m ? `step ${m.step.toLocaleString('en-US')} · min ${formatValue(m.min)} · max ${formatValue(m.max)}` : undefined}>
                        {formatValue(m?.last)}
                      </td>
                    );
                  })}
                  {(paramCols ?? []).map((k) => (
                    <td key={'p' + k} class={typeof x.params?.[k] === 'string' ? 'mono' : 'num mono'}>
                      {paramText(x.params?.[k])}
                    </td>
                  ))}
                  <td class="col-tags">
                    {x.tags.map((t) => (
                      <button type="button" key={t} class="tag" onClick={() => setQuery({ tag: t })} title={`Show experiments tagged ${t}`}>
                        {t}
                      </button>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <LoadMore list={list} />
        {list.items.length > 0 && (
          <p class="muted table-count">
            {list.items.length.toLocaleString('en-US')} shown
            {!filtered && p ? ` of ${p.experiments.toLocaleString('en-US')}` : ''}
          </p>
        )}
      </div>
      {keys.data && (
        <ColumnsDialog
          open={chooser}
          onClose={() => setChooser(false)}
          keys={keys.data}
          params={paramCols ?? []}
          metrics={metricCols ?? []}
          onApply={applyColumns}
        />
      )}
    </div>
  );
}

function NoExperiments({ name }: { name?: string }) {
  return (
    <div class="empty-howto">
      <p>No experiments yet. Log one from a training script:</p>
      <pre class="json">{`from cvops import Client
with Client(url, token).run(${JSON.stringify(name ?? 'project')}, params={"lr": 0.01}) as exp:
    for step in range(1000):
        exp.log_metric("loss", loss, step)`}</pre>
    </div>
  );
}

/** A table row from an experiment record (for rows re-read one by one). */
function rowFrom(e: Experiment, old: ExperimentRow): ExperimentRow {
  const metrics: ExperimentRow['metrics'] = { ...old.metrics };
  for (const m of e.metrics) if (metrics && m.name in metrics) metrics[m.name] = { last: m.last, step: m.last_step, min: m.min, max: m.max };
  return { ...old, status: e.status, started_at: e.started_at, finished_at: e.finished_at, updated_at: e.updated_at, tags: e.tags, name: e.name, metrics };
}

function ColumnsDialog(props: {
  open: boolean;
  onClose: () => void;
  keys: ProjectKeys;
  params: string[];
  metrics: string[];
  onApply: (params: string[], metrics: string[]) => void;
}) {
  const [params, setParams] = useState<string[]>(props.params);
  const [metrics, setMetrics] = useState<string[]>(props.metrics);
  const [filter, setFilter] = useState('');
  useEffect(() => {
    if (props.open) {
      setParams(props.params);
      setMetrics(props.metrics);
      setFilter('');
    }
  }, [props.open]);
  const f = filter.trim().toLowerCase();
  const group = (title: string, all: string[], chosen: string[], set: (v: string[]) => void) => {
    const names = [...new Set([...all, ...chosen])].filter((n) => !f || n.toLowerCase().includes(f));
    return (
      <fieldset class="column-group">
        <legend>
          {title}{' '}
          <span class="muted">
            ({chosen.length} of at most {MAX_COLUMNS} chosen)
          </span>
        </legend>
        {names.length === 0 && <p class="muted">None{f ? ' match' : ''}.</p>}
        <ul class="column-list">
          {names.map((n) => (
            <li key={n}>
              <label class="chart-check">
                <input
                  type="checkbox"
                  checked={chosen.includes(n)}
                  disabled={!chosen.includes(n) && chosen.length >= MAX_COLUMNS}
                  onChange={(e) => set((e.target as HTMLInputElement).checked ? [...chosen, n] : chosen.filter((x) => x !== n))}
                />
                <span class="mono">{n}</span>
              </label>
            </li>
          ))}
        </ul>
      </fieldset>
    );
  };
  return (
    <Dialog open={props.open} title="Columns" onClose={props.onClose} wide>
      <div class="field">
        <label for="column-filter">Find a name</label>
        <input id="column-filter" type="search" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} autofocus />
      </div>
      <div class="two-col columns-dialog">
        {group('Parameters', props.keys.params, params, setParams)}
        {group('Latest metrics', props.keys.metrics, metrics, setMetrics)}
      </div>
      {props.keys.scanned < props.keys.experiments && (
        <p class="muted">Names come from the newest {props.keys.scanned.toLocaleString('en-US')} experiments.</p>
      )}
      <div class="dialog-actions">
        <button type="button" class="button" onClick={props.onClose}>
          Cancel
        </button>
        <button
          type="button"
          class="button button-primary"
          onClick={() => {
            props.onApply(params, metrics);
            props.onClose();
          }}
        >
          Show columns
        </button>
      </div>
    </Dialog>
  );
}
