/*
 * Deployments.tsx - /deployments: every deployment with its mode, champion
 * and shadow, predictions and firing alerts.
 */
import { useState } from 'preact/hooks';
import { Empty, PageHeader } from '../../components/Bits';
import { DataTable, ErrorBox } from '../../components/Table';
import { deploy, type Deployment } from '../../lib/deploy';
import { formatTime } from '../../lib/format';
import { useLoad } from '../../lib/hooks';
import { can } from '../../lib/roles';
import { navigate, setQuery, useLocation } from '../../lib/router';
import { currentMe } from '../../lib/session';
import { DeploymentDialog } from './dialogs';
import { VersionRef } from './bits';
import './deploy.css';

export function DeploymentsPage() {
  const list = useLoad((s) => deploy.list(s), []);
  /* ?new=1&champion=ID: opened from a model version's "Deploy…" */
  const loc = useLocation();
  const [creating, setCreatingState] = useState(loc.query.get('new') === '1');
  const champion = Number(loc.query.get('champion')) || undefined;
  const setCreating = (v: boolean) => {
    setCreatingState(v);
    if (!v && loc.query.get('new')) setQuery({ new: null, champion: null });
  };
  const canWrite = can(currentMe()?.role, 'write');
  return (
    <div class="page">
      <PageHeader
        title="Deployments"
        subtitle="Models in production: serving or monitoring, dashboards, alerts and the review of predictions."
        actions={
          canWrite && (
            <button type="button" class="button button-primary" onClick={() => setCreating(true)}>
              New deployment
            </button>
          )
        }
      />
      <DeploymentDialog open={creating} champion={champion} onClose={() => setCreating(false)} onSaved={(d) => navigate(`/deployments/${d.id}`)} />
      {list.error && <ErrorBox message={list.error} onRetry={list.reload} />}
      {list.data && list.data.length === 0 ? (
        <Empty title="No deployment yet">
          <p>
            Create one with “New deployment” (mode <code>serve</code> or <code>monitor</code>, a champion model version) or with{' '}
            <code>POST /api/v1/deployments</code>; its predictions, dashboard and review then show here.
          </p>
        </Empty>
      ) : (
        <DataTable<Deployment>
          caption="Deployments"
          rows={list.data ?? []}
          rowKey={(d) => d.id}
          empty={list.loading ? 'Loading…' : null}
          columns={[
            {
              header: 'Name',
              cell: (d) => (
                <a href={`/deployments/${d.id}`} class="strong-link">
                  {d.name}
                </a>
              ),
            },
            { header: 'Mode', cell: (d) => d.mode },
            { header: 'Champion', cell: (d) => <VersionRef id={d.champion_version_id} /> },
            { header: 'Shadow', cell: (d) => <VersionRef id={d.shadow_version_id} /> },
            { header: 'Predictions', cell: (d) => d.predictions.toLocaleString('en-US'), class: 'num' },
            {
              header: 'Alerts',
              cell: (d) => (d.alerts_firing ? <span class="badge badge-failed">{d.alerts_firing} firing</span> : <span class="muted">none firing</span>),
            },
            { header: 'Created', cell: (d) => formatTime(d.created_at) },
          ]}
        />
      )}
    </div>
  );
}
