/*
 * Define.tsx - "New processing…": a custom processing from its manifest
 * (docs/processings.md), typed as JSON, with the files it needs picked here:
 * each goes up with PUT /files and is added to the manifest's `files` by its
 * name and SHA-256, then POST /processings. The API's checks answer with exact
 * messages (`parameters[2] 'n': min is larger than max`), shown as they are.
 * Defining an existing name makes its next version.
 */
import { useState } from 'preact/hooks';
import { Dialog } from '../../components/Dialog';
import { FormError } from '../../components/Form';
import { toast } from '../../components/Toasts';
import { api, errorMessage, uploadBody } from '../../lib/api';

const TEMPLATE = `{
  "name": "my-processing",
  "description": "What it does, shown in the catalog.",
  "target": "datalake",
  "parameters": [
    {"name": "count", "type": "integer", "default": 3, "min": 1, "max": 100, "description": "how many"}
  ],
  "resources": {"timeout_s": 600},
  "command": ["sh", "run.sh"]
}`;

export function DefineDialog(props: { open: boolean; onClose: () => void; onDefined: (name: string) => void }) {
  return (
    <Dialog open={props.open} title="New processing" onClose={props.onClose} wide>
      {props.open && <DefineForm {...props} />}
    </Dialog>
  );
}

function DefineForm({ onClose, onDefined }: { onClose: () => void; onDefined: (name: string) => void }) {
  const [text, setText] = useState(TEMPLATE);
  const [files, setFiles] = useState<File[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    let manifest: Record<string, unknown>;
    try {
      manifest = JSON.parse(text);
      if (!manifest || typeof manifest !== 'object' || Array.isArray(manifest)) throw new Error('the manifest must be a JSON object');
    } catch (err) {
      setError(`The manifest is not valid JSON: ${(err as Error).message}`);
      return;
    }
    try {
      const listed = Array.isArray(manifest.files) ? (manifest.files as { path: string }[]) : [];
      const added: { path: string; sha256: string; executable: boolean }[] = [];
      for (const f of files) {
        setBusy(`Uploading ${f.name}…`);
        const up = await uploadBody<{ sha256: string }>('/files', {}, f, undefined, 'PUT').done;
        added.push({ path: f.name, sha256: up.sha256, executable: false });
      }
      if (added.length) manifest.files = [...listed.filter((x) => !added.some((a) => a.path === x.path)), ...added];
      setBusy('Defining…');
      const r = await api.post<{ processing: { name: string; version: number } }>('/processings', manifest);
      toast(`Processing ${r.processing.name} v${r.processing.version} defined.`, { kind: 'success' });
      onDefined(r.processing.name);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(null);
    }
  };
  return (
    <form onSubmit={submit} noValidate>
      <div class="field">
        <label for="define-manifest">Manifest (JSON)</label>
        <textarea id="define-manifest" class="define-manifest" spellcheck={false} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
        <div class="field-hint">
          <code>name</code>, <code>description</code>, <code>target</code> (datalake, dataset-version, model-version, experiment), <code>parameters</code> (types integer, number,
          boolean, string, enum, string_list, object), <code>resources</code>, <code>requires</code>, <code>command</code>, <code>env</code>, <code>outputs</code>: see
          docs/processings.md. An existing name gets its next version.
        </div>
      </div>
      <div class="field">
        <label for="define-files">Files copied into the working directory</label>
        <input id="define-files" type="file" multiple onChange={(e) => setFiles([...((e.target as HTMLInputElement).files ?? [])])} />
        <div class="field-hint">{files.length ? files.map((f) => f.name).join(', ') : 'Scripts, models, anything the command needs; added to the manifest by name.'}</div>
      </div>
      {busy && <p class="muted">{busy}</p>}
      <FormError message={error} />
      <div class="dialog-actions">
        <button type="button" class="button" onClick={onClose}>
          Cancel
        </button>
        <button type="submit" class="button button-primary" disabled={!!busy}>
          Define processing
        </button>
      </div>
    </form>
  );
}
