/*
 * saver.ts - autosave of one asset's annotation.
 *
 * Every change schedules a save 700 ms later (a burst of edits is one
 * save); stepping to another image or leaving the tool saves at once. A
 * save is PUT /assets/{id}/annotation with the shapes, the status, the time
 * spent and `base_revision`, the revision this editor last loaded or saved.
 * One save at a time: changes made while one is in flight are saved after
 * it, on top of the revision it produced.
 *
 * If someone else saved the asset meanwhile, the API answers 409 with who
 * and when: the saver stops (state `conflict`, the API's message kept) and
 * never retries, so their work is not overwritten. The page offers to
 * reload theirs. Other failures (a network error, a shape the API refuses)
 * leave the changes unsaved (state `error`) until the next change or a
 * retry.
 */
import { ApiError, errorMessage } from '../../lib/api';
import { assets, type Annotation, type Status } from '../../lib/datasets';
import { toApi, type Doc } from './doc';

export type SaveState = 'saved' | 'dirty' | 'saving' | 'conflict' | 'error';

export class Saver {
  state: SaveState = 'saved';
  message: string | null = null;
  revision: number;
  status: Status;
  /** When the last save answered (ms since epoch). */
  savedAt = 0;
  /** Saves that succeeded (the grid then reads its pages again). */
  saves = 0;
  /** The user chose to throw these changes away (reload theirs): no "not saved" warning. */
  discarded = false;
  private savedSeq: number;
  private statusDirty = false;
  private timer: number | null = null;
  private inflight: Promise<void> | null = null;
  private subs = new Set<() => void>();
  private unsub: () => void;
  private durationBase: number;
  private activeMs = 0;
  private lastActive = performance.now();
  static DELAY_MS = 700;

  constructor(
    readonly assetId: number,
    readonly doc: Doc,
    loaded: Pick<Annotation, 'revision' | 'status' | 'duration_ms'>,
    /** Locked version or a role that cannot annotate: nothing is saved. */
    public readonly: boolean,
  ) {
    this.revision = loaded.revision;
    this.status = loaded.status;
    this.durationBase = loaded.duration_ms || 0;
    this.savedSeq = doc.seq;
    this.unsub = doc.subscribe(() => {
      if (this.doc.seq !== this.savedSeq && this.state !== 'conflict') {
        if (this.state !== 'saving') this.set('dirty');
        this.schedule();
      }
    });
  }

  subscribe(fn: () => void): () => void {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }

  private set(s: SaveState, message: string | null = null) {
    this.state = s;
    this.message = message;
    for (const fn of [...this.subs]) fn();
  }

  /** Time spent: gaps between interactions count up to 30 s (someone reading the image). */
  touch() {
    const now = performance.now();
    this.activeMs += Math.min(now - this.lastActive, 30_000);
    this.lastActive = now;
  }

  get dirty() {
    return this.doc.seq !== this.savedSeq || this.statusDirty;
  }

  setStatus(s: Status) {
    if (this.readonly || s === this.status) return;
    this.status = s;
    this.statusDirty = true;
    if (this.state !== 'conflict') this.set('dirty');
    void this.flush();
  }

  private schedule() {
    if (this.readonly) return;
    if (this.timer !== null) window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, Saver.DELAY_MS);
  }

  /** Saves now if there is anything to save; resolves when saved (or failed). */
  async flush(): Promise<void> {
    if (this.timer !== null) {
      window.clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.readonly || this.state === 'conflict') return;
    if (this.inflight) {
      await this.inflight;
      if (this.dirty && (this.state as SaveState) !== 'conflict') return this.flush();
      return;
    }
    if (!this.dirty) return;
    this.inflight = this.save().finally(() => (this.inflight = null));
    await this.inflight;
    const st = this.state as SaveState;
    if (this.dirty && st !== 'conflict' && st !== 'error') return this.flush();
  }

  private async save() {
    const seq = this.doc.seq;
    const statusWas = this.statusDirty;
    this.statusDirty = false;
    this.touch();
    this.set('saving');
    try {
      const a = await assets.save(this.assetId, {
        shapes: this.doc.shapes.map(toApi),
        status: this.status,
        duration_ms: Math.round(this.durationBase + this.activeMs),
        base_revision: this.revision,
      });
      this.revision = a.revision;
      this.savedSeq = seq;
      this.savedAt = Date.now();
      this.saves++;
      this.set(this.dirty ? 'dirty' : 'saved');
    } catch (e) {
      this.statusDirty = this.statusDirty || statusWas;
      if (e instanceof ApiError && e.status === 409) this.set('conflict', e.message);
      else this.set('error', errorMessage(e));
    }
  }

  /** After an error: try again. */
  retry() {
    if (this.state === 'error') void this.flush();
  }

  dispose() {
    if (this.timer !== null) window.clearTimeout(this.timer);
    this.unsub();
    this.subs.clear();
  }
}
