/*
 * ExperimentLogs.tsx - the Logs tab: every named log of the experiment
 * (GET /experiments/{id}/logs/names), each drawn for its kind: a value,
 * bars, a table, a heatmap or confusion matrix (Heatmap: a table with row
 * and column labels), an image, a label map. A log recorded at several
 * steps gets a step slider; only the record at the chosen step is fetched
 * (GET .../logs?name=&cursor=<step - 1>&limit=1: with a name, the cursor is
 * a step), and the list of steps is read without data.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { Heatmap, BarList } from '../../components/Heatmap';
import { ErrorBox } from '../../components/Table';
import { api, errorMessage, isAbort, type Page } from '../../lib/api';
import { formatTime } from '../../lib/format';
import { useLoad } from '../../lib/hooks';
import { formatValue, loadAll, type Experiment, type LogName, type LogRecord } from '../../lib/tracking';
import { groupByPrefix } from './ExperimentMetrics';

const MAX_STEPS = 10_000;
const TABLE_ROWS = 500;

export function LogsTab({ e, tick }: { e: Experiment; tick: number }) {
  const running = e.status === 'running' || e.status === 'queued';
  const names = useLoad((signal) => loadAll<LogName>(`/experiments/${e.id}/logs/names`, {}, 10_000, signal), [e.id, running ? Math.floor(tick / 3) : 0]);
  const [filter, setFilter] = useState('');
  if (names.error && !names.data) return <ErrorBox message={names.error} onRetry={names.reload} />;
  if (!names.data) return <p class="muted">Loading…</p>;
  const f = filter.trim().toLowerCase();
  const items = names.data.items.filter((n) => !f || n.name.toLowerCase().includes(f) || n.kind.includes(f));
  if (!names.data.items.length)
    return (
      <section class="card">
        <p class="muted">
          No logs yet. Scripts log tables, confusion matrices, images and more: <code>exp.log_confusion_matrix("val/cm", labels, matrix)</code>,{' '}
          <code>exp.log_image("pred", "pred.png", step=step)</code> (see docs/tracking.md).
        </p>
      </section>
    );
  return (
    <>
      {names.data.items.length > 6 && (
        <div class="filters">
          <label>
            Find a log
            <input type="search" value={filter} onInput={(ev) => setFilter((ev.target as HTMLInputElement).value)} />
          </label>
        </div>
      )}
      {groupByPrefix(items).map(([g, logs]) => (
        <div key={g} class="log-grid">
          {logs.map((n) => (
            <LogCard key={n.name} exp={e} log={n} />
          ))}
        </div>
      ))}
    </>
  );
}

const KIND_LABEL: Record<string, string> = {
  value: 'value',
  bar: 'bars',
  table: 'table',
  heatmap: 'heatmap',
  confusion_matrix: 'confusion matrix',
  image: 'image',
  label_map: 'label map',
};

function LogCard({ exp, log }: { exp: Experiment; log: LogName }) {
  const stepped = log.first_step !== null;
  const [steps, setSteps] = useState<(number | null)[] | null>(stepped ? null : [null]);
  const [idx, setIdx] = useState(-1);
  const [record, setRecord] = useState<LogRecord | null>(null);
  const [error, setError] = useState<string | null>(null);
  const cache = useRef(new Map<number | null, LogRecord>());
  const stepsRef = useRef<(number | null)[] | null>(null);
  const id = `log-${log.name.replace(/[^A-Za-z0-9_-]/g, '_')}`;

  /* the steps, without data */
  useEffect(() => {
    if (!stepped) {
      setSteps([null]);
      setIdx(0);
      return;
    }
    const ac = new AbortController();
    loadAll<LogRecord>(`/experiments/${exp.id}/logs`, { name: log.name, data: 0, limit: 500 }, MAX_STEPS, ac.signal).then(
      (r) => {
        const s = r.items.map((x) => x.step);
        /* at the latest step (or none yet): follow new steps of a running experiment */
        setIdx((i) => (i < 0 || i >= s.length || i === (stepsRef.current?.length ?? 0) - 1 ? s.length - 1 : i));
        setSteps(s);
        stepsRef.current = s;
      },
      (err) => {
        if (!isAbort(err)) setError(errorMessage(err));
      },
    );
    return () => ac.abort();
  }, [exp.id, log.name, log.count, log.last_step]);

  /* the record at the chosen step */
  const step = steps && idx >= 0 ? steps[idx] : undefined;
  useEffect(() => {
    if (step === undefined) return;
    const hit = cache.current.get(step);
    if (hit) {
      setRecord(hit);
      return;
    }
    const ac = new AbortController();
    const t = window.setTimeout(() => {
      api
        .list<LogRecord>(`/experiments/${exp.id}/logs`, { name: log.name, cursor: step === null ? -2 : step - 1, limit: 1 }, ac.signal)
        .then((p: Page<LogRecord>) => {
          const r = p.items[0];
          if (!r) return;
          cache.current.set(step, r);
          setRecord(r);
          setError(null);
        })
        .catch((err) => {
          if (!isAbort(err)) setError(errorMessage(err));
        });
    }, record ? 80 : 0);
    return () => {
      window.clearTimeout(t);
      ac.abort();
    };
  }, [step, exp.id, log.name, log.count]);

  const many = steps !== null && steps.length > 1;
  return (
    <section class={`card log-card logcard-${log.kind}`} aria-labelledby={id} data-log={log.name}>
      <div class="card-title-row">
        <h3 id={id} class="metric-title">
          {log.name}
        </h3>
        <span class="muted">
          {KIND_LABEL[log.kind] ?? log.kind}
          {stepped ? ` · ${log.count.toLocaleString('en-US')} step${log.count === 1 ? '' : 's'}` : ''}
        </span>
      </div>
      {error && <ErrorBox message={error} />}
      {many && steps && (
        <div class="step-slider">
          <button type="button" class="button button-small" aria-label="Previous step" disabled={idx <= 0} onClick={() => setIdx(idx - 1)}>
            ‹
          </button>
          <label>
            <span class="sr-only">Step of {log.name}</span>
            <input
              type="range"
              min={0}
              max={steps.length - 1}
              value={idx}
              aria-valuetext={`step ${steps[idx] ?? 'none'}`}
              onInput={(ev) => setIdx(Number((ev.target as HTMLInputElement).value))}
            />
          </label>
          <button type="button" class="button button-small" aria-label="Next step" disabled={idx >= steps.length - 1} onClick={() => setIdx(idx + 1)}>
            ›
          </button>
          <span class="step-label" data-testid="log-step">
            step {steps[idx] === null ? '—' : (steps[idx] as number).toLocaleString('en-US')}
          </span>
          <span class="muted">
            ({idx + 1} of {steps.length})
          </span>
        </div>
      )}
      {stepped && !many && record?.step !== null && record && <p class="muted">step {record.step?.toLocaleString('en-US')}</p>}
      {record ? <LogBody record={record} /> : !error && <p class="muted">Loading…</p>}
      {record && <p class="log-when muted">logged {formatTime(record.created_at)}</p>}
    </section>
  );
}

type Cell = string | number | boolean | null;

function LogBody({ record }: { record: LogRecord }) {
  const d = record.data as Record<string, unknown>;
  const caption = `${record.name}${record.step !== null ? ` at step ${record.step}` : ''}`;
  switch (record.kind) {
    case 'value': {
      const v = d.value as number | string;
      return <p class="log-value">{typeof v === 'number' ? formatValue(v) : v}</p>;
    }
    case 'bar':
      return <BarList labels={d.labels as string[]} values={d.values as number[]} caption={caption} />;
    case 'table': {
      const cols = d.columns as string[];
      const rows = d.rows as Cell[][];
      /* a column whose cells are all numbers (or empty) is right-aligned, header included */
      const numeric = cols.map((_, j) => rows.some((r) => typeof r[j] === 'number') && rows.every((r) => r[j] === null || typeof r[j] === 'number'));
      return (
        <>
          <div class="table-wrap log-table">
            <table class="table">
              <caption class="sr-only">{caption}</caption>
              <thead>
                <tr>
                  {cols.map((c, i) => (
                    <th key={i} scope="col" class={numeric[i] ? 'num' : undefined}>
                      {c}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {rows.slice(0, TABLE_ROWS).map((r, i) => (
                  <tr key={i}>
                    {r.map((c, j) => (
                      <td key={j} class={typeof c === 'number' ? 'num mono' : undefined}>
                        {c === null ? <span class="muted">—</span> : typeof c === 'number' ? formatValue(c) : String(c)}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <p class="muted">
            {rows.length.toLocaleString('en-US')} row{rows.length === 1 ? '' : 's'}
            {rows.length > TABLE_ROWS ? `, the first ${TABLE_ROWS} shown` : ''}
          </p>
        </>
      );
    }
    case 'heatmap':
      return <Heatmap caption={caption} rows={d.rows as string[]} columns={d.columns as string[]} matrix={d.matrix as number[][]} />;
    case 'confusion_matrix': {
      const labels = d.labels as string[];
      return (
        <Heatmap
          caption={`${caption}: rows are actual classes, columns predicted classes`}
          rows={labels}
          columns={labels}
          matrix={d.matrix as number[][]}
          rowTitle="actual"
          columnTitle="predicted"
          normalizable
        />
      );
    }
    case 'image': {
      const cap = (d.caption as string | undefined) ?? '';
      return (
        <figure class="log-image">
          <img src={`/api/v1/files/${d.sha256 as string}`} alt={cap || caption} loading="lazy" />
          {cap && <figcaption>{cap}</figcaption>}
        </figure>
      );
    }
    case 'label_map': {
      const l = d.labels as string[] | Record<string, string>;
      const entries = Array.isArray(l) ? l.map((v, i) => [String(i), v]) : Object.entries(l);
      return (
        <table class="table kv-table">
          <caption class="sr-only">{caption}</caption>
          <thead>
            <tr>
              <th scope="col">Id</th>
              <th scope="col">Label</th>
            </tr>
          </thead>
          <tbody>
            {entries.map(([k, v]) => (
              <tr key={k}>
                <td class="mono">{k}</td>
                <td>{v}</td>
              </tr>
            ))}
          </tbody>
        </table>
      );
    }
    default:
      return <pre class="json">{JSON.stringify(d, null, 2)}</pre>;
  }
}
