/*
 * TagDialog.tsx - add tags to, or remove tags from, a selection: explicit
 * ids or every item matching the query (one request either way,
 * POST /datalakes/{id}/tags). Known tags are offered as chips; for "Untag",
 * the tags the selected items carry come first.
 */
import { useState } from 'preact/hooks';
import { Dialog } from '../../components/Dialog';
import { FormError, TextField, useForm } from '../../components/Form';
import { toast } from '../../components/Toasts';
import { lakes, parseTags, type Selector } from '../../lib/datalake';
import type { Datalake, TagCount } from '../../lib/types';

export function TagDialog(p: {
  mode: 'add' | 'remove';
  lake: Datalake;
  count: number;
  selector: Selector;
  describe: string;
  known: TagCount[];
  /** Tags carried by the selected items (loaded ones), or null for a query selection. */
  current: Map<string, number> | null;
  onClose: () => void;
  onDone: () => void;
}) {
  const adding = p.mode === 'add';
  const [selector] = useState(p.selector); // the selection as it was when the dialog opened
  const form = useForm(
    { tags: '' },
    async (v) => {
      const names = parseTags(v.tags);
      if (!names.length) throw new Error('Give at least one tag.');
      const r = await lakes.tag(p.lake.id, selector, adding ? names : [], adding ? [] : names);
      const list = names.map((n) => `“${n}”`).join(', ');
      const n = `${r.changed.toLocaleString()} tag${r.changed === 1 ? '' : 's'} ${adding ? 'added' : 'removed'}`;
      toast(adding ? `Tagged ${p.describe} with ${list} (${n}).` : `Removed ${list} from ${p.describe} (${n}).`, { kind: 'success' });
      p.onDone();
      p.onClose();
    },
    { required: ['tags'] },
  );
  const chosen = new Set(parseTags(form.values.tags));
  const offer: { name: string; note: string }[] = [];
  if (!adding && p.current)
    for (const [name, n] of [...p.current].sort((a, b) => b[1] - a[1])) offer.push({ name, note: `${n} selected` });
  for (const t of p.known.filter((k) => k.count > 0).sort((a, b) => b.count - a.count))
    if (!offer.some((o) => o.name === t.name) && offer.length < 24) offer.push({ name: t.name, note: t.count.toLocaleString() });
  const toggle = (name: string) => {
    const xs = parseTags(form.values.tags);
    form.set('tags', (xs.includes(name) ? xs.filter((x) => x !== name) : [...xs, name]).join(', '));
  };
  const title = adding ? 'Tag images' : 'Remove tags';
  return (
    <Dialog open title={title} onClose={p.onClose}>
      <form onSubmit={form.onSubmit} noValidate aria-label={title}>
        <p>
          {adding ? 'Add tags to ' : 'Remove tags from '}
          <strong>{p.describe}</strong>.
        </p>
        <TextField form={form} name="tags" label={adding ? 'Tags to add' : 'Tags to remove'} autofocus hint="Separate tags with commas." autoComplete="off" />
        {offer.length > 0 && (
          <div class="tag-offer" role="group" aria-label={adding ? 'Existing tags' : 'Tags on the selection'}>
            {offer.map((o) => (
              <button key={o.name} type="button" class={'chip chip-button' + (chosen.has(o.name) ? ' chip-on' : '')} aria-pressed={chosen.has(o.name)} onClick={() => toggle(o.name)}>
                {o.name} <span class="chip-count">{o.note}</span>
              </button>
            ))}
          </div>
        )}
        <FormError message={form.formError} />
        <div class="dialog-actions">
          <button type="button" class="button" onClick={p.onClose}>
            Cancel
          </button>
          <button type="submit" class={adding ? 'button button-primary' : 'button button-danger'} disabled={form.submitting}>
            {adding ? 'Add tags' : 'Remove tags'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
