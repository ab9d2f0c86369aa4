/*
 * Form.tsx - forms with inline errors.
 *
 * useForm(initial) keeps the values, runs the submit function, and places an
 * ApiError's message: next to the field it names when the API's message says
 * "field 'x' ..." and the form has a field x, else above the buttons. The
 * message is the API's own, word for word. Required fields are checked here
 * first so an empty form gets a message per field without a round trip.
 *
 * <Field> renders a label, the control, a hint and the error, wired with
 * aria-invalid / aria-describedby so screen readers announce them.
 */
import type { ComponentChildren, JSX } from 'preact';
import { useRef, useState } from 'preact/hooks';
import { ApiError, errorMessage } from '../lib/api';

type Values = Record<string, string>;

export interface FormState<V extends Values> {
  values: V;
  set: (name: keyof V & string, value: string) => void;
  errors: Partial<Record<keyof V & string, string>>;
  formError: string | null;
  submitting: boolean;
  onSubmit: (e: Event) => void;
  reset: () => void;
}

export function useForm<V extends Values>(
  initial: V,
  submit: (values: V) => Promise<void>,
  opts: { required?: (keyof V & string)[]; fieldOf?: (message: string) => string | null } = {},
): FormState<V> {
  const [values, setValues] = useState<V>(initial);
  const [errors, setErrors] = useState<Partial<Record<keyof V & string, string>>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const busy = useRef(false);
  return {
    values,
    errors,
    formError,
    submitting,
    set: (name, value) => {
      setValues((v) => ({ ...v, [name]: value }));
      if (errors[name]) setErrors((x) => ({ ...x, [name]: undefined }));
    },
    reset: () => {
      setValues(initial);
      setErrors({});
      setFormError(null);
    },
    onSubmit: (e: Event) => {
      e.preventDefault();
      if (busy.current) return;
      const missing: Partial<Record<keyof V & string, string>> = {};
      for (const name of opts.required ?? []) if (!values[name]?.trim()) missing[name] = 'This field is required.';
      setErrors(missing);
      setFormError(null);
      if (Object.keys(missing).length) {
        focusFirstInvalid(e.target as HTMLElement, Object.keys(missing)[0]);
        return;
      }
      busy.current = true;
      setSubmitting(true);
      submit(values)
        .catch((err) => {
          const msg = errorMessage(err);
          const m = err instanceof ApiError ? /field '([A-Za-z0-9_]+)'/.exec(msg) : null;
          const named = err instanceof ApiError && opts.fieldOf ? opts.fieldOf(msg) : null;
          if (m && m[1] in values) setErrors({ [m[1]]: msg } as Partial<Record<keyof V & string, string>>);
          else if (named && named in values) setErrors({ [named]: msg } as Partial<Record<keyof V & string, string>>);
          else setFormError(msg);
        })
        .finally(() => {
          busy.current = false;
          setSubmitting(false);
        });
    },
  };
}

function focusFirstInvalid(form: HTMLElement, name: string) {
  const el = form.querySelector<HTMLElement>(`[name="${name}"]`);
  window.setTimeout(() => el?.focus(), 0);
}

let fieldSeq = 0;

export function Field(props: {
  label: string;
  error?: string;
  hint?: ComponentChildren;
  children: (a: { id: string; 'aria-invalid'?: boolean; 'aria-describedby'?: string }) => JSX.Element;
}) {
  const id = useRef(`f${++fieldSeq}`).current;
  const described = [props.hint ? id + '-hint' : '', props.error ? id + '-err' : ''].filter(Boolean).join(' ');
  return (
    <div class={props.error ? 'field field-invalid' : 'field'}>
      <label for={id}>{props.label}</label>
      {props.children({ id, 'aria-invalid': props.error ? true : undefined, 'aria-describedby': described || undefined })}
      {props.hint && (
        <div class="field-hint" id={id + '-hint'}>
          {props.hint}
        </div>
      )}
      {props.error && (
        <div class="field-error" id={id + '-err'}>
          {props.error}
        </div>
      )}
    </div>
  );
}

/** A text input bound to a form field. */
export function TextField<V extends Values>(props: {
  form: FormState<V>;
  name: keyof V & string;
  label: string;
  type?: 'text' | 'password' | 'number' | 'email' | 'search';
  hint?: ComponentChildren;
  autoComplete?: string;
  autofocus?: boolean;
  placeholder?: string;
  min?: number;
  max?: number;
  required?: boolean;
  /** id of a <datalist> of suggestions */
  list?: string;
}) {
  const f = props.form;
  return (
    <Field label={props.label} error={f.errors[props.name]} hint={props.hint}>
      {(a) => (
        <input
          {...a}
          name={props.name}
          /* Preact's input types are split per type; any of ours is a plain text-like input */
          type={(props.type ?? 'text') as 'text'}
          value={f.values[props.name]}
          onInput={(e) => f.set(props.name, (e.target as HTMLInputElement).value)}
          autoComplete={props.autoComplete}
          autofocus={props.autofocus}
          placeholder={props.placeholder}
          min={props.min}
          max={props.max}
          aria-required={props.required ? true : undefined}
          list={props.list}
        />
      )}
    </Field>
  );
}

export function SelectField<V extends Values>(props: {
  form: FormState<V>;
  name: keyof V & string;
  label: string;
  options: { value: string; label: string }[];
  hint?: ComponentChildren;
}) {
  const f = props.form;
  return (
    <Field label={props.label} error={f.errors[props.name]} hint={props.hint}>
      {(a) => (
        <select
          {...a}
          name={props.name}
          value={f.values[props.name]}
          onChange={(e) => f.set(props.name, (e.target as HTMLSelectElement).value)}
        >
          {props.options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

/** The form-level error (an API message that names no field of the form). */
export function FormError({ message }: { message: string | null }) {
  if (!message) return null;
  return (
    <div class="form-error" role="alert">
      {message}
    </div>
  );
}
