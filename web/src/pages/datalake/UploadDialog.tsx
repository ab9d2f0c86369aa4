/*
 * UploadDialog.tsx - the upload queue: a drop zone and file/folder pickers,
 * tags for the next files, overall progress (bytes), and every file's
 * result (created, already there, or the API's reason for refusing it).
 *
 * The queue itself (lib/upload.ts) outlives the dialog: closing it does not
 * stop anything, and the page's Upload button shows the progress meanwhile.
 * The per-file list is a virtual list, so a folder of 50,000 files costs
 * the same as one of 50.
 */
import { useState } from 'preact/hooks';
import { ProgressBar } from '../../components/Bits';
import { Dialog } from '../../components/Dialog';
import { VirtualGrid } from '../../components/VirtualGrid';
import { formatBytes } from '../../lib/format';
import { useStore } from '../../lib/store';
import type { Datalake } from '../../lib/types';
import { CONCURRENCY, uploads, type PickedFile, type UploadFile } from '../../lib/upload';
import { FilePickers } from './FilePickers';

const LABEL: Record<UploadFile['state'], string> = {
  queued: 'waiting',
  uploading: 'sending',
  created: 'uploaded',
  duplicate: 'already there',
  rejected: 'rejected',
  failed: 'failed',
  canceled: 'canceled',
};

export function UploadDialog(p: { open: boolean; onClose: () => void; lake: Datalake; onFiles: (f: PickedFile[]) => void }) {
  useStore(uploads.changes);
  const tags = useStore(uploads.nextTags);
  const [onlyProblems, setOnlyProblems] = useState(false);
  const [over, setOver] = useState(false);
  const s = uploads.summary();
  const add = (files: PickedFile[]) => {
    if (!files.length) return;
    uploads.add(files, p.lake.id);
  };
  const shown = onlyProblems ? uploads.files.filter((f) => f.state === 'rejected' || f.state === 'failed') : uploads.files;
  const problems = s.rejected + s.failed;
  return (
    <Dialog open={p.open} title={`Upload to “${p.lake.name}”`} onClose={p.onClose} wide>
      <div
        class={'upload-drop' + (over ? ' upload-drop-over' : '')}
        data-testid="upload-drop"
        onDragOver={() => setOver(true)}
        onDragLeave={() => setOver(false)}
        onDrop={() => setOver(false) /* the page takes the files (a drop anywhere counts) */}
      >
        <p>Drop images or folders here, or</p>
        <FilePickers onFiles={add} />
      </div>
      <div class="field upload-tags">
        <label for="upload-tags">Tag the next uploads with</label>
        <input id="upload-tags" type="text" autofocus value={tags} placeholder="e.g. night, cam3" onInput={(e) => uploads.nextTags.set((e.target as HTMLInputElement).value)} aria-describedby="upload-tags-hint" />
        <div class="field-hint" id="upload-tags-hint">
          Separate tags with commas. Files already in the datalake get these tags added.
        </div>
      </div>
      {s.files > 0 && (
        <section aria-label="Upload progress" class="upload-progress">
          <div class="upload-summary">
            <ProgressBar value={s.bytes ? s.sent / s.bytes : s.done / s.files} label="Upload progress" />
            <span data-testid="upload-summary">
              {s.done.toLocaleString()} of {s.files.toLocaleString()} files · {formatBytes(s.sent)} of {formatBytes(s.bytes)}
              {s.running ? ` · ${CONCURRENCY} at a time` : ''}
            </span>
          </div>
          <p class="upload-counts">
            <span class="badge badge-succeeded">{s.created.toLocaleString()} uploaded</span>{' '}
            <span class="badge">{s.duplicate.toLocaleString()} already there</span>{' '}
            <span class={problems ? 'badge badge-failed' : 'badge'}>{problems.toLocaleString()} rejected</span>
            {s.canceled > 0 && (
              <>
                {' '}
                <span class="badge badge-canceled">{s.canceled.toLocaleString()} canceled</span>
              </>
            )}
            {problems > 0 && (
              <label class="upload-filter">
                <input type="checkbox" checked={onlyProblems} onChange={(e) => setOnlyProblems((e.target as HTMLInputElement).checked)} /> only problems
              </label>
            )}
          </p>
          <VirtualGrid
            count={shown.length}
            itemWidth={100_000}
            itemHeight={30}
            gap={0}
            overscan={8}
            label="Files"
            class="upload-list"
            cellProps={(i) => ({ 'aria-label': `${shown[i].path}: ${LABEL[shown[i].state]}${shown[i].message ? ', ' + shown[i].message : ''}` })}
            renderItem={(i) => <FileRow f={shown[i]} />}
          />
        </section>
      )}
      <div class="dialog-actions">
        {s.running ? (
          <button type="button" class="button button-danger-quiet" onClick={() => uploads.cancel()}>
            Cancel uploads
          </button>
        ) : (
          s.files > 0 && (
            <button type="button" class="button" onClick={() => uploads.clear()}>
              Clear list
            </button>
          )
        )}
        <button type="button" class="button button-primary" onClick={p.onClose}>
          {s.running ? 'Hide (uploads continue)' : 'Done'}
        </button>
      </div>
    </Dialog>
  );
}

function FileRow({ f }: { f: UploadFile }) {
  const bad = f.state === 'rejected' || f.state === 'failed';
  return (
    <div class={'upload-row upload-' + f.state} data-state={f.state}>
      <span class="upload-path" title={f.path}>
        {f.path}
      </span>
      <span class="upload-size">{formatBytes(f.file.size)}</span>
      <span class="upload-state">
        {f.state === 'uploading' ? `${Math.round((f.sent / Math.max(1, f.file.size)) * 100)}%` : LABEL[f.state]}
        {f.state === 'created' || f.state === 'duplicate' ? (
          <>
            {' · '}
            <a href={`/datalake/data/${f.id}`}>open</a>
          </>
        ) : null}
      </span>
      <span class={bad ? 'upload-msg upload-msg-bad' : 'upload-msg'} title={f.message}>
        {f.message}
      </span>
    </div>
  );
}
