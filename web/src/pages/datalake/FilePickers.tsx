/* FilePickers.tsx - "Choose files" and "Choose a folder" over hidden file inputs. */
import { useEffect, useRef } from 'preact/hooks';
import { pickedFiles, type PickedFile } from '../../lib/upload';

export function FilePickers({ onFiles }: { onFiles: (f: PickedFile[]) => void }) {
  const files = useRef<HTMLInputElement>(null);
  const folder = useRef<HTMLInputElement>(null);
  useEffect(() => {
    /* not a standard attribute: set it on the element */
    folder.current?.setAttribute('webkitdirectory', '');
  }, []);
  const take = (e: Event) => {
    const el = e.target as HTMLInputElement;
    if (el.files) onFiles(pickedFiles(el.files));
    el.value = '';
  };
  return (
    <div class="pickers">
      <button type="button" class="button" onClick={() => files.current?.click()}>
        Choose files…
      </button>
      <button type="button" class="button" onClick={() => folder.current?.click()}>
        Choose a folder…
      </button>
      <input ref={files} type="file" multiple accept="image/*" class="sr-only" tabIndex={-1} aria-label="Choose files" data-testid="pick-files" onChange={take} />
      <input ref={folder} type="file" class="sr-only" tabIndex={-1} aria-label="Choose a folder" data-testid="pick-folder" onChange={take} />
    </div>
  );
}

