/*
 * Launch.tsx - /processings/:name/launch?on=kind:id&query=: launch one
 * processing. The target (a datalake, a dataset version, a model version
 * or an experiment: the kinds the processing runs on) is picked from lists;
 * the parameter form is generated from the processing's schema with its
 * defaults, bounds and descriptions and checked before sending; resources
 * can be overridden ("Advanced"). The Datalake and dataset version pages
 * link here with their current selection as `query`. A launch opens its run.
 */
import { useEffect, useState } from 'preact/hooks';
import { PageHeader } from '../../components/Bits';
import { FormError } from '../../components/Form';
import { ParamForm } from '../../components/ParamForm';
import { ErrorBox } from '../../components/Table';
import { ApiError, api, errorMessage } from '../../lib/api';
import { datasets } from '../../lib/datasets';
import { lakes } from '../../lib/datalake';
import { useLoad } from '../../lib/hooks';
import { checkParams, formDefaults, processings, TARGET_LABEL, type Processing, type Resources, type TargetKind } from '../../lib/processing';
import { registry } from '../../lib/registry';
import { navigate, useLocation } from '../../lib/router';
import type { PageProps } from '../../routes';
import './processings.css';

interface Option {
  value: string;
  label: string;
}

/** Everything of a kind the organization has, as "kind:id" options. */
async function targetOptions(kind: TargetKind, signal: AbortSignal): Promise<Option[]> {
  if (kind === 'datalake') return (await lakes.list(signal)).map((l) => ({ value: `datalake:${l.id}`, label: l.name }));
  if (kind === 'dataset-version') {
    const ds = await datasets.list(signal);
    const per = await Promise.all(ds.map((d) => datasets.versions(d.id, signal).then((vs) => vs.map((v) => ({ value: `dataset-version:${v.id}`, label: `${d.name} / ${v.name}${v.locked ? ' (locked)' : ''}` })))));
    return per.flat();
  }
  if (kind === 'model-version') {
    const ms = await registry.models('', signal);
    const per = await Promise.all(ms.map((m) => registry.versions(m.id, signal).then((vs) => vs.map((v) => ({ value: `model-version:${v.id}`, label: `${m.name} v${v.version}` })))));
    return per.flat();
  }
  const projects = await api.get<{ items: { id: number; name: string }[] }>('/projects', { limit: 200 }, signal).then((r) => r.items);
  const per = await Promise.all(
    projects.map((p) =>
      api.get<{ items: { id: number; name: string }[] }>(`/projects/${p.id}/experiments`, { limit: 200 }, signal).then((r) => r.items.map((x) => ({ value: `experiment:${x.id}`, label: `${p.name} / ${x.name}` }))),
    ),
  );
  return per.flat();
}

const RESOURCE_FIELDS: { key: keyof Resources; label: string; hint: string; max: number; min: number }[] = [
  { key: 'timeout_s', label: 'Timeout (s)', hint: '1 to 604800', min: 1, max: 604800 },
  { key: 'threads', label: 'Threads', hint: '1 to 64', min: 1, max: 64 },
  { key: 'memory_mb', label: 'Memory limit (MB)', hint: '0 (none) to 1048576', min: 0, max: 1048576 },
  { key: 'output_mb', label: 'Output limit (MB)', hint: '0 to 1048576', min: 0, max: 1048576 },
];

export function LaunchPage({ params }: PageProps) {
  const name = params.name;
  const catalog = useLoad((s) => processings.list(s), []);
  const p = catalog.data?.find((x) => x.name === name);
  return (
    <div class="page">
      <PageHeader crumbs={[{ href: '/processings', label: 'Processings' }]} title={`Launch ${name}`} subtitle={p?.description ?? undefined} />
      {catalog.error && <ErrorBox message={catalog.error} onRetry={catalog.reload} />}
      {catalog.data && !p && <ErrorBox message={`There is no processing named '${name}' in this organization's catalog.`} />}
      {p && <LaunchForm p={p} />}
    </div>
  );
}

function LaunchForm({ p }: { p: Processing }) {
  const loc = useLocation();
  const onParam = loc.query.get('on') ?? '';
  const initialKind = (p.targets.find((t) => onParam.startsWith(t + ':')) ?? p.targets[0]) as TargetKind;
  const [kind, setKind] = useState<TargetKind>(initialKind);
  const [on, setOn] = useState(onParam.startsWith(initialKind + ':') ? onParam : '');
  const [query, setQ] = useState(loc.query.get('query') ?? '');
  const [values, setValues] = useState(() => formDefaults(p.parameters));
  const [errors, setErrors] = useState<Record<string, string | undefined>>({});
  const [res, setRes] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const options = useLoad((s) => targetOptions(kind, s), [kind]);
  // the first target preselected once the list arrives, unless one was picked meanwhile: the
  // effect runs after the render that showed the options, so it reads the current value, not
  // the (still empty) one of its render
  useEffect(() => {
    const first = options.data?.[0]?.value;
    if (first) setOn((cur) => cur || first);
  }, [options.data]);

  const submit = async (e: Event) => {
    e.preventDefault();
    setFormError(null);
    const { params, errors: errs } = checkParams(p.parameters, values);
    const resources: Resources = {};
    for (const f of RESOURCE_FIELDS) {
      const t = (res[f.key] ?? '').trim();
      if (!t) continue;
      const n = Number(t);
      if (!Number.isInteger(n) || n < f.min || n > f.max) errs[`res_${f.key}`] = `${f.label} must be a whole number from ${f.min} to ${f.max}, got '${t}'.`;
      else resources[f.key] = n;
    }
    if (!on) errs.on = `Pick the ${TARGET_LABEL[kind].toLowerCase()} to run on.`;
    setErrors(errs);
    if (Object.keys(errs).length) {
      const first = Object.keys(errs)[0];
      window.setTimeout(() => document.querySelector<HTMLElement>(`[name="${first.startsWith('res_') ? first : first}"]`)?.focus(), 0);
      return;
    }
    setBusy(true);
    try {
      const run = await processings.run(p.name, { on, params, query: query.trim() || undefined, resources: Object.keys(resources).length ? resources : undefined });
      navigate(`/processings/runs/${run.id}`);
    } catch (err) {
      const msg = errorMessage(err);
      const m = err instanceof ApiError ? /parameter '([a-z0-9_]+)'/.exec(msg) : null;
      if (m && p.parameters.some((x) => x.name === m[1])) setErrors({ [m[1]]: msg });
      else setFormError(msg);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} noValidate aria-label={`Launch ${p.name}`}>
      <section class="card launch-section" aria-labelledby="launch-target">
        <h2 id="launch-target">Target</h2>
        <div class="form-row">
          <div class="field">
            <label for="launch-kind">Runs on</label>
            <select
              id="launch-kind"
              value={kind}
              onChange={(e) => {
                setKind((e.target as HTMLSelectElement).value as TargetKind);
                setOn('');
              }}
            >
              {p.targets.map((t) => (
                <option key={t} value={t}>
                  {TARGET_LABEL[t] ?? t}
                </option>
              ))}
            </select>
          </div>
          <div class={errors.on ? 'field field-invalid' : 'field'}>
            <label for="launch-on">{TARGET_LABEL[kind]}</label>
            <select id="launch-on" name="on" value={on} onChange={(e) => setOn((e.target as HTMLSelectElement).value)} aria-invalid={errors.on ? true : undefined}>
              {!on && <option value="">{options.loading ? 'Loading…' : options.data?.length ? 'Pick one' : `No ${TARGET_LABEL[kind].toLowerCase()} yet`}</option>}
              {on && !options.data?.some((o) => o.value === on) && <option value={on}>{on}</option>}
              {(options.data ?? []).map((o) => (
                <option key={o.value} value={o.value}>
                  {o.label}
                </option>
              ))}
            </select>
            {errors.on && <div class="field-error">{errors.on}</div>}
            {options.error && <div class="field-error">{options.error}</div>}
          </div>
          {kind !== 'model-version' && kind !== 'experiment' && (
            <div class="field">
              <label for="launch-query">Only these (query)</label>
              <input id="launch-query" name="query" type="text" value={query} placeholder={kind === 'datalake' ? 'e.g. tag = street' : 'e.g. label = car'} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
              <div class="field-hint">{kind === 'datalake' ? 'A datalake query' : 'An asset query'}; empty: everything. A selection arrives here as <code>id in (…)</code>.</div>
            </div>
          )}
        </div>
      </section>
      <section class="card launch-section" aria-labelledby="launch-params">
        <h2 id="launch-params">Parameters</h2>
        {p.parameters.length === 0 ? (
          <p class="muted">This processing takes no parameters.</p>
        ) : (
          <ParamForm
            specs={p.parameters}
            values={values}
            errors={errors}
            onChange={(n, v) => {
              setValues((x) => ({ ...x, [n]: v }));
              if (errors[n]) setErrors((x) => ({ ...x, [n]: undefined }));
            }}
          />
        )}
        <details class="launch-advanced">
          <summary>Advanced: resources</summary>
          <div class="form-row">
            {RESOURCE_FIELDS.map((f) => (
              <div key={f.key} class={errors[`res_${f.key}`] ? 'field field-invalid' : 'field'}>
                <label for={`res-${f.key}`}>{f.label}</label>
                <input id={`res-${f.key}`} name={`res_${f.key}`} type="text" inputMode="numeric" value={res[f.key] ?? ''} placeholder={String(p.resources[f.key] ?? '')} onInput={(e) => setRes((x) => ({ ...x, [f.key]: (e.target as HTMLInputElement).value }))} />
                <div class="field-hint">
                  {f.hint}; default {String(p.resources[f.key] ?? '—')}
                </div>
                {errors[`res_${f.key}`] && <div class="field-error">{errors[`res_${f.key}`]}</div>}
              </div>
            ))}
          </div>
        </details>
      </section>
      <FormError message={formError} />
      <div class="dialog-actions" style={{ justifyContent: 'flex-start' }}>
        <button type="submit" class="button button-primary" disabled={busy}>
          {busy ? 'Launching…' : `Launch ${p.name}`}
        </button>
        <button type="button" class="button" onClick={() => setValues(formDefaults(p.parameters))}>
          Reset to defaults
        </button>
      </div>
    </form>
  );
}
