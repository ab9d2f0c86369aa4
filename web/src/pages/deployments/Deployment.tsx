/*
 * Deployment.tsx - /deployments/:id?res=minute|hour|day: the dashboard. The
 * settings, the alert rules (firing ones first), totals over the range and
 * charts per bucket from GET .../metrics (rollups: never a scan of the
 * predictions): requests, latency p50/p95/p99, objects per image and mean
 * score, champion/shadow agreement; the label and score distributions.
 */
import { useState } from 'preact/hooks';
import { PageHeader } from '../../components/Bits';
import { BarList } from '../../components/Heatmap';
import { LineChart, type ChartSeries, type Range } from '../../components/LineChart';
import { ErrorBox } from '../../components/Table';
import { toast } from '../../components/Toasts';
import { errorMessage } from '../../lib/api';
import { deploy, RANGE_MS, type Alert, type Bucket, type Metrics, type Resolution } from '../../lib/deploy';
import { formatTime } from '../../lib/format';
import { useInterval, useLoad } from '../../lib/hooks';
import { can } from '../../lib/roles';
import { setQuery, useLocation } from '../../lib/router';
import { currentMe } from '../../lib/session';
import type { PageProps } from '../../routes';
import { DeployTabs, fmtNum, fmtPct, VersionRef } from './bits';
import { AlertDialog, DeploymentDialog } from './dialogs';
import { DriftCard, SupervisedCard } from './Drift';
import '../projects/projects.css';
import './deploy.css';

const RESOLUTIONS: { id: Resolution; label: string; range: string }[] = [
  { id: 'minute', label: 'Minute', range: 'last 24 hours' },
  { id: 'hour', label: 'Hour', range: 'last 14 days' },
  { id: 'day', label: 'Day', range: 'last 365 days' },
];

const pad = (n: number) => String(n).padStart(2, '0');
function clockTime(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
function dayTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}
function hourTime(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}h`;
}
const FORMAT_X: Record<Resolution, (x: number) => string> = { minute: clockTime, hour: hourTime, day: dayTime };

function series(buckets: Bucket[], defs: { key: keyof Bucket; label: string; color: string; scale?: number }[]): ChartSeries[] {
  return defs.map((d) => {
    const steps: number[] = [];
    const values: number[] = [];
    for (const b of buckets) {
      const v = b[d.key] as number | null;
      if (v === null || v === undefined || !Number.isFinite(v)) continue;
      steps.push(Date.parse(b.t));
      values.push(v * (d.scale ?? 1));
    }
    return { key: String(d.key), label: d.label, color: d.color, steps, values };
  });
}

export function DeploymentPage({ params }: PageProps) {
  const id = Number(params.id);
  const loc = useLocation();
  const res = (RESOLUTIONS.some((r) => r.id === loc.query.get('res')) ? loc.query.get('res') : 'minute') as Resolution;
  const me = currentMe();
  const dep = useLoad((s) => deploy.get(id, s), [id]);
  const [tick, setTick] = useState(0);
  const metrics = useLoad(
    (s) => {
      const to = Date.now() + 60_000;
      return deploy.metrics(id, res, to - RANGE_MS[res], to, s);
    },
    [id, res, tick],
  );
  const alerts = useLoad((s) => deploy.alerts(id, s), [id, tick]);
  useInterval(() => setTick((t) => t + 1), 15_000);
  const d = dep.data;
  const [editing, setEditing] = useState(false);
  const [addingAlert, setAddingAlert] = useState(false);
  const canWrite = can(me?.role, 'write');
  const checkAlerts = async () => {
    try {
      await deploy.checkAlerts(id);
      alerts.reload();
      dep.reload();
    } catch (e) {
      toast(errorMessage(e), { kind: 'error' });
    }
  };
  return (
    <div class="page">
      <PageHeader
        crumbs={[{ href: '/deployments', label: 'Deployments' }]}
        title={d ? d.name : 'Deployment'}
        subtitle={d && `${d.mode === 'serve' ? 'Served by cvops' : 'Monitoring a model served elsewhere'}${d.description ? ' · ' + d.description : ''}`}
        actions={
          canWrite &&
          d && (
            <>
              <button type="button" class="button" onClick={() => setAddingAlert(true)}>
                Add alert rule…
              </button>
              <button type="button" class="button" onClick={() => setEditing(true)}>
                Settings…
              </button>
            </>
          )
        }
      />
      {d && (
        <DeploymentDialog
          open={editing}
          current={d}
          onClose={() => setEditing(false)}
          onSaved={(nd) => {
            setEditing(false);
            dep.setData(nd);
            dep.reload();
          }}
        />
      )}
      <AlertDialog
        open={addingAlert}
        deployment={id}
        onClose={() => setAddingAlert(false)}
        onSaved={() => {
          setAddingAlert(false);
          alerts.reload();
        }}
      />
      <DeployTabs d={d} current="dashboard" />
      {dep.error && <ErrorBox message={dep.error} onRetry={dep.reload} />}
      {d && (
        <div class="two-col dep-top">
          <section class="card" aria-labelledby="dep-settings">
            <h2 id="dep-settings">Settings</h2>
            <dl class="facts">
              <dt>Mode</dt>
              <dd>{d.mode}</dd>
              <dt>Champion</dt>
              <dd>
                <VersionRef id={d.champion_version_id} />
              </dd>
              <dt>Shadow</dt>
              <dd>
                <VersionRef id={d.shadow_version_id} />
              </dd>
              <dt>Images stored</dt>
              <dd>
                {fmtPct(d.sample_rate)} of requests{d.datalake_id ? <> into <a href={`/datalake?lake=${d.datalake_id}`}>datalake {d.datalake_id}</a></> : ''}
              </dd>
              <dt>Minimum score</dt>
              <dd>{d.min_score}</dd>
              <dt>Predictions</dt>
              <dd>{d.predictions.toLocaleString('en-US')}</dd>
            </dl>
          </section>
          <AlertsCard alerts={alerts.data} error={alerts.error} canCheck={canWrite} onCheck={checkAlerts} />
        </div>
      )}
      <div class="section-bar">
        <h2>Monitoring</h2>
        <div class="segmented" role="group" aria-label="Resolution">
          {RESOLUTIONS.map((r) => (
            <button key={r.id} type="button" aria-pressed={r.id === res} onClick={() => setQuery({ res: r.id === 'minute' ? null : r.id })}>
              {r.label}
            </button>
          ))}
        </div>
      </div>
      {metrics.error && <ErrorBox message={metrics.error} onRetry={metrics.reload} />}
      {metrics.data && <Dashboard m={metrics.data} res={res} />}
      {d && (
        <div class="two-col">
          <DriftCard id={id} />
          <SupervisedCard id={id} />
        </div>
      )}
    </div>
  );
}

function AlertsCard({ alerts, error, canCheck, onCheck }: { alerts: Alert[] | undefined; error: string | null; canCheck: boolean; onCheck: () => void }) {
  const sorted = [...(alerts ?? [])].sort((a, b) => Number(b.state === 'firing') - Number(a.state === 'firing'));
  const firing = sorted.filter((a) => a.state === 'firing');
  return (
    <section class="card" aria-labelledby="dep-alerts">
      <div class="card-title-row">
        <h2 id="dep-alerts">Alerts</h2>
        {canCheck && (
          <button type="button" class="button button-small" onClick={onCheck}>
            Check now
          </button>
        )}
      </div>
      {error && <ErrorBox message={error} />}
      {firing.length > 0 && (
        <div class="alert-firing" role="alert">
          {firing.length} alert{firing.length === 1 ? '' : 's'} firing: {firing.map((a) => a.name).join(', ')}
        </div>
      )}
      {alerts && alerts.length === 0 && <p class="muted">No alert rule yet (“Add alert rule…”).</p>}
      {sorted.length > 0 && (
        <ul class="alert-list" aria-label="Alert rules">
          {sorted.map((a) => (
            <li key={a.id} class={a.state === 'firing' ? 'alert-rule alert-rule-firing' : 'alert-rule'}>
              <span class={`badge ${a.state === 'firing' ? 'badge-failed' : 'badge-succeeded'}`}>{a.state}</span>{' '}
              <strong>{a.name}</strong>: {a.metric} {a.op} {a.threshold} over {a.window_minutes} min
              <span class="muted">
                {' '}
                · last value {fmtNum(a.last_value, 3)}
                {a.since ? ` · since ${formatTime(a.since)}` : ''}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Chart(props: { title: string; id: string; series: ChartSeries[]; res: Resolution; note?: string }) {
  const [view, setView] = useState<Range | null>(null);
  const empty = props.series.every((s) => s.steps.length === 0);
  return (
    <section class="card" aria-labelledby={props.id}>
      {empty ? (
        <>
          <h3 id={props.id}>{props.title}</h3>
          <p class="muted">No data in this range.</p>
        </>
      ) : (
        <LineChart
          title={props.title}
          heading={<h3 id={props.id}>{props.title}</h3>}
          series={props.series}
          domain={null}
          view={view}
          onView={setView}
          height={200}
          formatX={FORMAT_X[props.res]}
          xName="time"
          note={props.note && <span class="muted">{props.note}</span>}
        />
      )}
    </section>
  );
}

const SCORE_BINS = Array.from({ length: 10 }, (_, i) => `${(i / 10).toFixed(1)}–${((i + 1) / 10).toFixed(1)}`);

function Dashboard({ m, res }: { m: Metrics; res: Resolution }) {
  const t = m.totals;
  const s = m.series;
  const range = RESOLUTIONS.find((r) => r.id === res)!.range;
  return (
    <>
      <dl class="dep-totals" aria-label="Totals">
        <div>
          <dt>Requests</dt>
          <dd>{t.count.toLocaleString('en-US')}</dd>
        </div>
        <div>
          <dt>Errors</dt>
          <dd>{t.errors.toLocaleString('en-US')}</dd>
        </div>
        <div>
          <dt>Latency p50</dt>
          <dd>{fmtNum(t.latency_p50)} ms</dd>
        </div>
        <div>
          <dt>Latency p95</dt>
          <dd>{fmtNum(t.latency_p95)} ms</dd>
        </div>
        <div>
          <dt>Latency p99</dt>
          <dd>{fmtNum(t.latency_p99)} ms</dd>
        </div>
        <div>
          <dt>Objects per image</dt>
          <dd>{fmtNum(t.objects_per_image, 2)}</dd>
        </div>
        <div>
          <dt>Champion/shadow agreement</dt>
          <dd>{fmtPct(t.agreement)}</dd>
        </div>
      </dl>
      <p class="muted">
        Per {res}, {range}; {s.length} bucket{s.length === 1 ? '' : 's'} with data.
      </p>
      <div class="chart-grid">
        <Chart id="ch-count" title="Requests" res={res} series={series(s, [{ key: 'count', label: 'requests', color: '#2563eb' }, { key: 'errors', label: 'errors', color: '#dc2626' }])} />
        <Chart
          id="ch-latency"
          title="Latency (ms)"
          res={res}
          series={series(s, [
            { key: 'latency_p50', label: 'p50', color: '#16a34a' },
            { key: 'latency_p95', label: 'p95', color: '#d97706' },
            { key: 'latency_p99', label: 'p99', color: '#dc2626' },
          ])}
          note="From a 14-bucket histogram per bucket, interpolated."
        />
        <Chart
          id="ch-objects"
          title="Objects per image and mean score"
          res={res}
          series={series(s, [
            { key: 'objects_per_image', label: 'objects per image', color: '#7c3aed' },
            { key: 'score_mean', label: 'mean top score', color: '#0891b2' },
          ])}
        />
        <Chart id="ch-agreement" title="Champion/shadow agreement (%)" res={res} series={series(s, [{ key: 'agreement', label: 'same top label', color: '#db2777', scale: 100 }])} note="Share of predictions where the shadow's top label is the champion's." />
      </div>
      <div class="two-col">
        <section class="card" aria-labelledby="dep-labels">
          <h3 id="dep-labels">Label distribution</h3>
          {m.labels.length ? (
            <BarList caption="Top labels" labels={m.labels.map((l) => l.label)} values={m.labels.map((l) => l.count)} />
          ) : (
            <p class="muted">No labels predicted in this range.</p>
          )}
        </section>
        <section class="card" aria-labelledby="dep-scores">
          <h3 id="dep-scores">Score distribution</h3>
          {t.count ? <BarList caption="Top scores" labels={SCORE_BINS} values={t.score_histogram} /> : <p class="muted">No predictions in this range.</p>}
        </section>
      </div>
    </>
  );
}
