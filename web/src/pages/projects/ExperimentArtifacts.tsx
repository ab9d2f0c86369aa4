/*
 * ExperimentArtifacts.tsx - the Artifacts tab: the experiment's files in
 * path order (keyset pages), with size and SHA-256, a path prefix filter,
 * and a download link each (GET .../artifacts/file?path=, which sends a
 * download name and supports Range).
 */
import { useState } from 'preact/hooks';
import { CopyButton } from '../../components/Bits';
import { KeysetTable } from '../../components/Table';
import { api, API, withQuery } from '../../lib/api';
import { formatBytes, formatTime } from '../../lib/format';
import { useKeysetList } from '../../lib/hooks';
import type { Artifact, Experiment } from '../../lib/tracking';

export function ArtifactsTab({ e, tick }: { e: Experiment; tick: number }) {
  const [prefix, setPrefix] = useState('');
  const [draft, setDraft] = useState('');
  const running = e.status === 'running' || e.status === 'queued';
  const list = useKeysetList<Artifact>(
    (cursor, signal) => api.list<Artifact>(`/experiments/${e.id}/artifacts`, { prefix, limit: 100, cursor }, signal),
    [e.id, prefix, running ? Math.floor(tick / 5) : 0],
  );
  return (
    <>
      <form
        class="filters"
        aria-label="Filter artifacts"
        onSubmit={(ev) => {
          ev.preventDefault();
          setPrefix(draft.trim());
        }}
      >
        <label>
          Path starts with
          <input type="search" value={draft} placeholder="checkpoints/" onInput={(ev) => setDraft((ev.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" class="button">
          Apply
        </button>
      </form>
      <KeysetTable
        list={list}
        rowKey={(a) => a.path}
        caption="Artifacts"
        empty={prefix ? 'No artifact path starts with this.' : <>No artifacts. Scripts upload files with <code>exp.upload_artifact("checkpoints/")</code>.</>}
        columns={[
          { header: 'Path', cell: (a) => <span class="mono">{a.path}</span> },
          { header: 'Size', cell: (a) => formatBytes(a.size), class: 'num' },
          {
            header: 'SHA-256',
            cell: (a) => (
              <span class="sha">
                <code title={a.sha256}>{a.sha256.slice(0, 12)}…</code>
                <CopyButton text={a.sha256} label="Copy" />
              </span>
            ),
          },
          { header: 'Uploaded', cell: (a) => formatTime(a.created_at) },
          {
            header: 'Download',
            srOnlyHeader: true,
            class: 'col-actions',
            cell: (a) => (
              <a class="button button-small" href={withQuery(`${API}/experiments/${e.id}/artifacts/file`, { path: a.path })} download aria-label={`Download ${a.path}`}>
                Download
              </a>
            ),
          },
        ]}
      />
    </>
  );
}
