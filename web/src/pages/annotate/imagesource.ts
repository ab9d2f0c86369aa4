/*
 * imagesource.ts - the pixels of the image being annotated, fast to show
 * and cheap to redraw.
 *
 * Opening: the 256 px thumbnail first (usually in the browser's cache from
 * the grid; the server sends it with an ETag), drawn scaled up to the whole
 * image, so the tool shows the picture at once. Meanwhile the original
 * (GET /data/{id}/original) is fetched and decoded with createImageBitmap,
 * which Chrome and Firefox do off the main thread: a 12-megapixel JPEG does
 * not freeze the page while it decodes. The canvas switches to it when it
 * is ready.
 *
 * Redrawing: drawing a 4000x3000 bitmap scaled down to fit a 1200x800
 * canvas resamples 12 million source pixels every frame; a pan then costs
 * tens of milliseconds. So the original gets a pyramid of half-size copies
 * (down to about 512 px), made once in the background, and each frame draws
 * from the smallest level that still has at least one source pixel per
 * screen pixel, only the visible part of it. Zoomed out, a frame touches a
 * few hundred thousand pixels whatever the image size.
 *
 * A small cache keeps the last few images (the current one and the one
 * prefetched for "next"), closing the bitmaps of those it drops.
 */

export interface Level {
  src: CanvasImageSource;
  w: number;
  h: number;
}

export type ImageState = 'loading' | 'thumbnail' | 'original' | 'failed';

export class LoadedImage {
  /** The image's size as displayed (the datalake's width and height). */
  readonly w: number;
  readonly h: number;
  state: ImageState = 'loading';
  /** Why the original cannot be shown (a TIFF, a network error). */
  note: string | null = null;
  thumb: Level | null = null;
  /** The original first, then smaller copies. */
  levels: Level[] = [];
  private subs = new Set<() => void>();
  private ac = new AbortController();
  private closed = false;

  constructor(
    readonly dataId: number,
    w: number,
    h: number,
    readonly format: string,
  ) {
    this.w = w;
    this.h = h;
  }

  subscribe(fn: () => void): () => void {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }

  private changed() {
    for (const fn of [...this.subs]) fn();
  }

  /** Starts loading: the thumbnail, then the original and its pyramid. */
  load() {
    const thumb = new Image();
    thumb.decoding = 'async';
    thumb.src = `/api/v1/data/${this.dataId}/thumbnail`;
    thumb.decode().then(
      () => {
        if (this.closed || this.levels.length) return;
        this.thumb = { src: thumb, w: thumb.naturalWidth, h: thumb.naturalHeight };
        if (this.state === 'loading') this.state = 'thumbnail';
        this.changed();
      },
      () => {
        /* no thumbnail: wait for the original */
      },
    );
    if (this.format === 'tiff') {
      /* browsers do not decode TIFF: the thumbnail is what can be shown */
      this.note = 'TIFF images are shown as their 256 px thumbnail; shapes are still in full-size pixels.';
      return;
    }
    void this.loadOriginal();
  }

  private async loadOriginal() {
    try {
      const res = await fetch(`/api/v1/data/${this.dataId}/original`, { credentials: 'same-origin', signal: this.ac.signal });
      if (!res.ok) throw new Error(`the server answered ${res.status} for the original image`);
      const blob = await res.blob();
      const bmp = await createImageBitmap(blob, { imageOrientation: 'from-image' });
      if (this.closed) {
        bmp.close();
        return;
      }
      this.levels = [{ src: bmp, w: bmp.width, h: bmp.height }];
      this.state = 'original';
      this.changed();
      await this.buildPyramid(bmp);
    } catch (e) {
      if (this.closed || (e as Error).name === 'AbortError') return;
      this.note = `The original could not be shown (${(e as Error).message}); the thumbnail stands in.`;
      if (this.state === 'loading') this.state = this.thumb ? 'thumbnail' : 'failed';
      this.changed();
    }
  }

  private async buildPyramid(bmp: ImageBitmap) {
    let w = bmp.width, h = bmp.height;
    while (Math.max(w, h) > 1024) {
      w = Math.max(1, Math.round(w / 2));
      h = Math.max(1, Math.round(h / 2));
      const level = await createImageBitmap(bmp, { resizeWidth: w, resizeHeight: h, resizeQuality: 'medium' });
      if (this.closed) {
        level.close();
        return;
      }
      this.levels.push({ src: level, w, h });
    }
    this.changed();
  }

  /**
   * What to draw at `scale` (screen px per image px): the smallest level
   * with at least one pixel per screen pixel, or the largest there is.
   */
  pick(scale: number): Level | null {
    if (!this.levels.length) return this.thumb;
    let best = this.levels[0];
    for (const l of this.levels) if (l.w / this.w >= scale * 0.999) best = l;
    return best;
  }

  close() {
    this.closed = true;
    this.ac.abort();
    for (const l of this.levels) (l.src as ImageBitmap).close?.();
    this.levels = [];
    this.subs.clear();
  }
}

const cache = new Map<number, LoadedImage>(); // data id -> image, in use order
const KEEP = 3;

/** The image of datalake item `dataId`, loading it if it is not in the cache. */
export function imageFor(dataId: number, w: number, h: number, format: string): LoadedImage {
  let img = cache.get(dataId);
  if (img) {
    cache.delete(dataId);
  } else {
    img = new LoadedImage(dataId, w, h, format);
    img.load();
  }
  cache.set(dataId, img);
  evict();
  return img;
}

/** Loads an image ahead (the next one), so that stepping to it shows the original at once. */
export function prefetch(dataId: number, w: number, h: number, format: string) {
  if (cache.has(dataId)) return;
  const img = new LoadedImage(dataId, w, h, format);
  img.load();
  cache.set(dataId, img);
  evict();
}

/* Keeps the KEEP most recent: the one shown is the newest or, after a prefetch, the one before. */
function evict() {
  while (cache.size > KEEP) {
    const [k, old] = cache.entries().next().value as [number, LoadedImage];
    cache.delete(k);
    old.close();
  }
}

/** Drops every cached image (leaving the tool). */
export function releaseImages(keep?: number) {
  for (const [k, v] of [...cache]) {
    if (k === keep) continue;
    v.close();
    cache.delete(k);
  }
}
