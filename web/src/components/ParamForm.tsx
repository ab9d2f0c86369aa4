/*
 * ParamForm.tsx - a form generated from a parameter schema (lib/processing.ts
 * ParamSpec: the processings' manifests, and the training parameters): a
 * number field with min/max (step 1 for integers), a checkbox for booleans,
 * a select for enums, a text field for strings (max length) and
 * comma-separated lists, a JSON text area for objects. Each field shows its
 * type, bounds, default and description, and its error under it.
 */
import { boundsText, type ParamSpec } from '../lib/processing';
import { Field } from './Form';

export function ParamForm(props: {
  specs: ParamSpec[];
  values: Record<string, string>;
  errors: Record<string, string | undefined>;
  onChange: (name: string, value: string) => void;
  disabled?: boolean;
  label?: string;
}) {
  return (
    <div class="param-form" role="group" aria-label={props.label ?? 'Parameters'}>
      {props.specs.map((p) => (
        <ParamField key={p.name} p={p} value={props.values[p.name] ?? ''} error={props.errors[p.name]} onChange={(v) => props.onChange(p.name, v)} disabled={props.disabled} />
      ))}
    </div>
  );
}

function hintOf(p: ParamSpec) {
  const parts: string[] = [];
  const b = boundsText(p);
  if (b) parts.push(b);
  if (p.default !== undefined && p.default !== null && p.type !== 'boolean') parts.push(`default ${typeof p.default === 'object' ? JSON.stringify(p.default) : String(p.default)}`);
  if (p.type === 'string_list') parts.push('comma-separated');
  const head = parts.join(' · ');
  return (
    <>
      {p.description && <span>{p.description}</span>}
      {p.description && head ? <br /> : null}
      {head && <span class="muted">{head}</span>}
    </>
  );
}

function ParamField({ p, value, error, onChange, disabled }: { p: ParamSpec; value: string; error?: string; onChange: (v: string) => void; disabled?: boolean }) {
  const label = p.name + (p.required ? ' (required)' : '');
  if (p.type === 'boolean') {
    const id = `param-${p.name}`;
    return (
      <div class={error ? 'field field-invalid' : 'field'}>
        <div class="field-check">
          <input id={id} name={p.name} type="checkbox" checked={value === 'true'} disabled={disabled} onChange={(e) => onChange((e.target as HTMLInputElement).checked ? 'true' : 'false')} aria-describedby={p.description ? id + '-hint' : undefined} />
          <label for={id}>{p.name}</label>
        </div>
        {p.description && (
          <div class="field-hint" id={id + '-hint'}>
            {p.description}
          </div>
        )}
        {error && <div class="field-error">{error}</div>}
      </div>
    );
  }
  return (
    <Field label={label} error={error} hint={hintOf(p)}>
      {(a) => {
        if (p.type === 'enum')
          return (
            <select {...a} name={p.name} value={value} disabled={disabled} onChange={(e) => onChange((e.target as HTMLSelectElement).value)}>
              {!p.required && p.default === undefined && <option value="">(default)</option>}
              {(p.values ?? []).map((v) => (
                <option key={v} value={v}>
                  {v}
                </option>
              ))}
            </select>
          );
        if (p.type === 'object')
          return <textarea {...a} name={p.name} value={value} disabled={disabled} spellcheck={false} onInput={(e) => onChange((e.target as HTMLTextAreaElement).value)} />;
        const num = p.type === 'integer' || p.type === 'number';
        return (
          <input
            {...a}
            name={p.name}
            /* text, not type=number: the browser would hide what was typed when it is not a number, and our message names it */
            type="text"
            inputMode={num ? (p.type === 'integer' ? 'numeric' : 'decimal') : undefined}
            value={value}
            disabled={disabled}
            aria-required={p.required ? true : undefined}
            onInput={(e) => onChange((e.target as HTMLInputElement).value)}
          />
        );
      }}
    </Field>
  );
}
