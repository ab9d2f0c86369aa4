/*
 * upload.ts - uploads into a datalake from the browser: files and folders
 * dropped or picked, sent 4 at a time, each with its own answer.
 *
 * One queue per tab (module state), so an upload keeps going, and its
 * progress is still there, when the user looks at another page meanwhile.
 * Each file is one POST /datalakes/{id}/data with the file as the raw body
 * (XMLHttpRequest, for upload progress): 201 created, 200 duplicate (the
 * datalake had the content; new tags were added), or 4xx with the API's
 * reason (not an image, truncated, too many pixels), shown per file.
 *
 * Folders: a dropped directory is walked with webkitGetAsEntry (the entries
 * must be taken during the drop event: the DataTransfer empties after it);
 * a picked folder (<input webkitdirectory>) comes as a flat list with
 * webkitRelativePath. Like the CLI, names starting with a dot are skipped
 * in folders (.DS_Store and friends), and the file name sent is the base
 * name; the relative path is shown.
 */
import { errorMessage, isAbort, uploadBody, type UploadHandle } from './api';
import { parseTags } from './datalake';
import { createStore } from './store';
import type { UploadedItem } from './types';

export type UploadState = 'queued' | 'uploading' | 'created' | 'duplicate' | 'rejected' | 'failed' | 'canceled';

export interface UploadFile {
  key: number;
  file: File;
  /** Relative path within a dropped or picked folder, else the name. */
  path: string;
  lake: number;
  tags: string[];
  state: UploadState;
  sent: number;
  message?: string;
  id?: number;
}

export interface UploadSummary {
  files: number;
  bytes: number;
  sent: number;
  done: number;
  created: number;
  duplicate: number;
  rejected: number;
  failed: number;
  canceled: number;
  running: boolean;
}

export const CONCURRENCY = 4;

export interface PickedFile {
  file: File;
  path: string;
}

let keySeq = 0;

class UploadQueue {
  files: UploadFile[] = [];
  private next = 0;
  private active = new Map<number, UploadHandle<UploadedItem>>();
  private counts = { created: 0, duplicate: 0, rejected: 0, failed: 0, canceled: 0, done: 0 };
  private bytes = 0;
  private sentDone = 0; // bytes of finished files
  /** Changes (throttled to one per frame) for the UI. */
  readonly changes = createStore(0);
  /** "Tag the next uploads with" (as typed): every file added gets these tags. */
  readonly nextTags = createStore('');
  /** Called when a file was stored (created or duplicate), for grids to refresh. */
  onStored: ((f: UploadFile) => void) | null = null;
  private scheduled = false;
  private stored = new Map<number, number>();

  /** How many files were stored into `lake` so far: a view built earlier can tell it is stale. */
  storedIn(lake: number): number {
    return this.stored.get(lake) ?? 0;
  }

  add(picked: PickedFile[], lake: number) {
    const tags = parseTags(this.nextTags.get());
    for (const p of picked) {
      this.files.push({ key: ++keySeq, file: p.file, path: p.path, lake, tags, state: 'queued', sent: 0 });
      this.bytes += p.file.size;
    }
    this.notify();
    this.fill();
  }

  summary(): UploadSummary {
    let sentActive = 0;
    for (const k of this.active.keys()) sentActive += this.files.find((f) => f.key === k)?.sent ?? 0;
    return {
      files: this.files.length,
      bytes: this.bytes,
      sent: this.sentDone + sentActive,
      ...this.counts,
      running: this.active.size > 0 || this.next < this.files.length,
    };
  }

  /** Stops: uploads in flight are aborted, queued files are not sent. */
  cancel() {
    for (let i = this.next; i < this.files.length; i++) this.finish(this.files[i], 'canceled', 'Canceled before it was sent.');
    this.next = this.files.length;
    for (const h of this.active.values()) h.abort();
    this.notify();
  }

  /** Forgets finished files (the dialog's "Clear"). */
  clear() {
    if (this.summary().running) return;
    this.files = [];
    this.next = 0;
    this.counts = { created: 0, duplicate: 0, rejected: 0, failed: 0, canceled: 0, done: 0 };
    this.bytes = 0;
    this.sentDone = 0;
    this.notify();
  }

  private fill() {
    while (this.active.size < CONCURRENCY && this.next < this.files.length) this.start(this.files[this.next++]);
  }

  private start(f: UploadFile) {
    f.state = 'uploading';
    const h = uploadBody<UploadedItem>(
      `/datalakes/${f.lake}/data`,
      { filename: f.file.name, tag: f.tags },
      f.file,
      (sent) => {
        f.sent = sent;
        this.notify();
      },
    );
    this.active.set(f.key, h);
    h.done.then(
      (item) => {
        f.id = item.id;
        this.stored.set(f.lake, this.storedIn(f.lake) + 1);
        this.finish(f, item.duplicate ? 'duplicate' : 'created', item.duplicate ? 'Already in the datalake.' : undefined);
        this.onStored?.(f);
      },
      (e) => {
        if (isAbort(e)) this.finish(f, 'canceled', 'Canceled while sending.');
        else if ((e as { status?: number }).status && (e as { status: number }).status < 500 && (e as { status: number }).status !== 401)
          this.finish(f, 'rejected', errorMessage(e));
        else this.finish(f, 'failed', errorMessage(e));
      },
    ).finally(() => {
      this.active.delete(f.key);
      this.fill();
      this.notify();
    });
  }

  private finish(f: UploadFile, state: UploadState, message?: string) {
    f.state = state;
    f.message = message;
    this.sentDone += f.file.size;
    f.sent = f.file.size;
    this.counts.done++;
    this.counts[state as 'created']++;
  }

  private notify() {
    if (this.scheduled) return;
    this.scheduled = true;
    window.requestAnimationFrame(() => {
      this.scheduled = false;
      this.changes.update((n) => n + 1);
    });
  }
}

export const uploads = new UploadQueue();

function skipName(name: string): boolean {
  return name.startsWith('.');
}

/** Files and folders of a drop. Call synchronously in the drop handler. */
export function droppedFiles(dt: DataTransfer): Promise<PickedFile[]> {
  /* take every entry now: the DataTransfer is emptied when the handler returns */
  const entries: (FileSystemEntry | null)[] = [];
  const plain: File[] = [];
  for (const it of Array.from(dt.items)) {
    if (it.kind !== 'file') continue;
    const entry = typeof it.webkitGetAsEntry === 'function' ? it.webkitGetAsEntry() : null;
    if (entry) entries.push(entry);
    else {
      const f = it.getAsFile();
      if (f) plain.push(f);
    }
  }
  if (!entries.length && !plain.length) for (const f of Array.from(dt.files)) plain.push(f);
  return (async () => {
    const out: PickedFile[] = plain.map((file) => ({ file, path: file.name }));
    for (const e of entries) await walkEntry(e!, out, true);
    return out;
  })();
}

async function walkEntry(e: FileSystemEntry, out: PickedFile[], top: boolean): Promise<void> {
  if (!top && skipName(e.name)) return;
  const path = e.fullPath.replace(/^\//, '');
  if (e.isFile) {
    const file = await new Promise<File>((res, rej) => (e as FileSystemFileEntry).file(res, rej));
    out.push({ file, path });
    return;
  }
  if (!e.isDirectory) return;
  const reader = (e as FileSystemDirectoryEntry).createReader();
  /* readEntries answers in batches (100 in Chromium) until an empty one */
  const children: FileSystemEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
    if (!batch.length) break;
    children.push(...batch);
  }
  children.sort((a, b) => a.name.localeCompare(b.name));
  for (const c of children) await walkEntry(c, out, false);
}

/** Files of an <input type=file> (with or without webkitdirectory). */
export function pickedFiles(list: FileList): PickedFile[] {
  const out: PickedFile[] = [];
  for (const file of Array.from(list)) {
    const path = file.webkitRelativePath || file.name;
    if (file.webkitRelativePath && path.split('/').slice(1).some(skipName)) continue;
    out.push({ file, path });
  }
  return out;
}
