/*
 * EvaluationsTab.tsx - the experiment page's "Evaluations" tab: the
 * experiment's evaluations (GET /experiments/{id}/evaluations) with their
 * status and headline number, each linking to its evaluation page. Polls
 * while a run is queued or running.
 */
import { StateBadge, Empty } from '../../components/Bits';
import { DataTable, ErrorBox } from '../../components/Table';
import { api } from '../../lib/api';
import { formatTime } from '../../lib/format';
import { useInterval, useLoad } from '../../lib/hooks';
import type { Experiment } from '../../lib/tracking';
import { evalHref, metric, type Evaluation } from './evaluation';

function headline(e: Evaluation): string {
  const s = e.summary;
  if (!s) return '—';
  if (s.metrics) return `accuracy ${metric(s.metrics.accuracy)}`;
  if (s.stats) return `mAP ${metric(s.stats[0])} · mAP50 ${metric(s.stats[1])}`;
  return '—';
}

export function EvaluationsTab({ e }: { e: Experiment }) {
  const list = useLoad((signal) => api.get<{ items: Evaluation[] }>(`/experiments/${e.id}/evaluations`, undefined, signal), [e.id]);
  const busy = (list.data?.items ?? []).some((x) => x.status === 'queued' || x.status === 'running');
  useInterval(() => list.reload(), 1500, busy);
  if (list.error && !list.data) return <ErrorBox message={list.error} onRetry={list.reload} />;
  const items = list.data?.items ?? [];
  if (list.data && !items.length)
    return (
      <Empty title="No evaluations yet">
        Upload predictions on a dataset version's assets and score them: <code>cvops evaluation create</code>, the Python client's{' '}
        <code>exp.evaluate(...)</code>, or <code>POST /api/v1/experiments/{e.id}/evaluations</code> (see docs/evaluation.md).
      </Empty>
    );
  return (
    <section class="card" aria-labelledby="ev-list">
      <h2 id="ev-list">Evaluations</h2>
      <DataTable
        caption="Evaluations of this experiment"
        rows={items}
        rowKey={(x) => x.id}
        columns={[
          { header: 'Name', cell: (x) => <a href={evalHref(e.project_id, x)}>{x.name}</a> },
          { header: 'Dataset', cell: (x) => `${x.dataset} / ${x.dataset_version}` },
          { header: 'Task', cell: (x) => x.task },
          { header: 'Status', cell: (x) => <StateBadge state={x.status} /> },
          { header: 'Result', cell: (x) => headline(x) },
          { header: 'Predictions', class: 'num', cell: (x) => x.predictions.toLocaleString('en-US') },
          { header: 'Evaluated', cell: (x) => (x.evaluated_at ? formatTime(x.evaluated_at) : '—') + (x.stale ? ' (stale)' : '') },
        ]}
      />
    </section>
  );
}
