/*
 * TrainingForm.tsx - "Training parameters…" on the experiment page: the
 * training launch as a form (issue 8). The fields, defaults and bounds are
 * those of src/training/config.c (training_cfg_init, training_cfg_apply);
 * each starts at the experiment's own parameter when it has one (the
 * trainer's precedence: defaults < the experiment's parameters < the
 * launch); an empty field is left out of the launch, so the experiment's
 * parameter or the trainer's own choice applies (an automatic learning
 * rate, the data's input size). A raw JSON object can be merged
 * over the form for anything it does not show (a custom architecture).
 * The API checks everything again; its message lands under the field it
 * names ("field 'epochs' ...", "augmentation: field 'pad' ...").
 */
import { useState } from 'preact/hooks';
import { Dialog } from '../../components/Dialog';
import { FormError } from '../../components/Form';
import { ParamForm } from '../../components/ParamForm';
import { toast } from '../../components/Toasts';
import { api, ApiError, errorMessage } from '../../lib/api';
import { checkParams, type ParamSpec } from '../../lib/processing';
import type { Experiment, TrainingView } from '../../lib/tracking';

/** The trainer's parameters, as in src/training/config.c. */
export const TRAINING_PARAMS: { group: string; specs: ParamSpec[] }[] = [
  {
    group: 'Model',
    specs: [
      { name: 'architecture', type: 'enum', values: ['cnn', 'resnet', 'mobilenet', 'detector-nano', 'detector-small'], default: 'cnn', description: 'the network family: a classifier, or a detector (a custom architecture goes in the JSON below)' },
      { name: 'depth', type: 'integer', min: 0, max: 200, default: 0, description: "layers or blocks; 0: the family's default" },
      { name: 'width', type: 'number', min: 0.05, max: 16, default: 1, description: 'channel multiplier' },
      { name: 'stem', type: 'enum', values: ['imagenet', 'small'], description: 'the first layers; empty: chosen from the input size' },
      { name: 'activation', type: 'enum', values: ['relu', 'silu', 'leaky_relu'], default: 'relu' },
      { name: 'dropout', type: 'number', min: 0, max: 0.95, default: 0, description: 'before the classifier' },
      { name: 'input_size', type: 'integer', min: 0, max: 1024, default: 0, description: "side in pixels (at least 8; a detector's a multiple of 32); 0: from the data" },
      { name: 'channels', type: 'enum', values: ['1', '3'], description: '1 gray, 3 colour; empty: from the data' },
    ],
  },
  {
    group: 'Detection',
    specs: [
      { name: 'task', type: 'enum', values: ['classification', 'detection'], description: "empty: from the architecture and the train dataset version's task" },
      { name: 'score_thr', type: 'number', min: 0, max: 1, default: 0.25, description: 'boxes scoring below it are dropped (detection)' },
      { name: 'nms_iou', type: 'number', min: 0.01, max: 1, default: 0.7, description: 'overlap above which non-maximum suppression drops the weaker box (detection)' },
      { name: 'mosaic', type: 'number', min: 0, max: 1, default: 1, description: 'share of training images made as a 4-image mosaic (detection)' },
      { name: 'close_mosaic', type: 'integer', min: -1, max: 1000, default: -1, description: 'no mosaic in the last N epochs; -1: the default (detection)' },
      { name: 'val_input_size', type: 'integer', min: 0, max: 1024, default: 0, description: 'validate, evaluate and serve at this side, a multiple of 32; 0: input_size (detection)' },
    ],
  },
  {
    group: 'Optimisation',
    specs: [
      { name: 'epochs', type: 'integer', min: 1, max: 1000, default: 10 },
      { name: 'batch_size', type: 'integer', min: 1, max: 4096, default: 64 },
      { name: 'optimizer', type: 'enum', values: ['adamw', 'sgd'], default: 'adamw' },
      { name: 'lr', type: 'number', min: 1e-8, max: 10, description: "learning rate; empty: the experiment's, else 0.002 for adamw, 0.1 for sgd" },
      { name: 'weight_decay', type: 'number', min: 0, max: 1, description: "empty: the experiment's, else 0.05 for adamw, 0.0005 for sgd" },
      { name: 'momentum', type: 'number', min: 0, max: 0.999, default: 0.9, description: 'sgd' },
      { name: 'nesterov', type: 'boolean', default: false, description: 'Nesterov momentum (sgd)' },
      { name: 'schedule', type: 'enum', values: ['cosine', 'step', 'constant'], default: 'cosine', description: 'learning-rate schedule' },
      { name: 'warmup_steps', type: 'integer', min: 0, max: 10000000, default: 0 },
      { name: 'label_smoothing', type: 'number', min: 0, max: 0.5, default: 0 },
      { name: 'ema', type: 'number', min: 0, max: 0.99999, default: 0, description: 'decay of an exponential moving average of the weights; 0: none' },
      { name: 'clip_norm', type: 'number', min: 0, max: 1e6, default: 0, description: 'gradient clipping by norm; 0: none' },
      { name: 'seed', type: 'integer', min: 0, max: 9007199254740991, default: 1 },
      { name: 'max_seconds', type: 'number', min: 0, max: 2592000, default: 0, description: 'stop after this long; 0: no limit' },
    ],
  },
  {
    group: 'Augmentation',
    specs: [
      { name: 'augmentation.hflip', type: 'boolean', default: false, description: 'random left-right flips' },
      { name: 'augmentation.vflip', type: 'boolean', default: false, description: 'random upside-down flips' },
      { name: 'augmentation.pad', type: 'number', min: 0, max: 256, default: 0, description: 'pad-and-crop shift in pixels' },
      { name: 'augmentation.rotate', type: 'number', min: 0, max: 180, default: 0, description: 'largest rotation in degrees' },
      { name: 'augmentation.crop', type: 'number', min: 0, max: 1, default: 0, description: 'random resized crop: smallest area share; 0: none' },
      { name: 'augmentation.brightness', type: 'number', min: 0, max: 1, default: 0 },
      { name: 'augmentation.contrast', type: 'number', min: 0, max: 1, default: 0 },
      { name: 'augmentation.saturation', type: 'number', min: 0, max: 1, default: 0 },
    ],
  },
  {
    group: 'Machine',
    specs: [
      { name: 'threads', type: 'integer', min: 0, max: 256, default: 0, description: '0: as many as the machine has' },
      { name: 'loader_workers', type: 'integer', min: 1, max: 32, default: 2, description: 'image decoding threads' },
      { name: 'cache_mb', type: 'integer', min: 0, max: 1048576, default: 1024, description: 'decoded images kept in memory' },
      { name: 'log_every', type: 'integer', min: 1, max: 100000, default: 1, description: 'log the loss every N steps' },
    ],
  },
];

const ALL = TRAINING_PARAMS.flatMap((g) => g.specs);

/** The form's starting text: the experiment's parameter, else the default. */
export function trainingInitial(params: Record<string, unknown>): Record<string, string> {
  const v: Record<string, string> = {};
  for (const p of ALL) {
    const own = params[p.name];
    const d = own !== undefined && own !== null && typeof own !== 'object' ? own : p.default;
    v[p.name] = d === undefined || d === null ? (p.type === 'boolean' ? 'false' : '') : String(d);
  }
  return v;
}

/** The launch body: the form's values (nested augmentation), the JSON merged over them. */
export function trainingBody(values: Record<string, string>, raw: string): { body?: Record<string, unknown>; errors: Record<string, string> } {
  const { params, errors } = checkParams(ALL, values);
  let extra: Record<string, unknown> = {};
  if (raw.trim()) {
    try {
      const o = JSON.parse(raw);
      if (o === null || typeof o !== 'object' || Array.isArray(o)) errors.raw = 'The JSON must be an object such as {"epochs": 3}.';
      else extra = o;
    } catch (e) {
      errors.raw = `Not valid JSON: ${(e as Error).message}`;
    }
  }
  const arch = typeof extra.architecture === 'string' ? extra.architecture : values.architecture;
  const task = typeof extra.task === 'string' ? extra.task : values.task;
  const size = Number(extra.input_size ?? values.input_size);
  if (!errors.input_size && (task === 'detection' || arch?.startsWith('detector-')) && Number.isInteger(size) && size > 0 && size % 32 !== 0)
    errors.input_size = `input_size is ${size} but a detector's input must be a multiple of its stride 32 (e.g. ${size >= 32 ? Math.floor(size / 32) * 32 : 32} or ${(Math.floor(size / 32) + 1) * 32}).`;
  if (!errors.task && task === 'classification' && arch?.startsWith('detector-'))
    errors.task = `architecture '${arch}' is a detector but task is classification; choose task detection, or a classifier architecture (cnn, resnet, mobilenet).`;
  if (Object.keys(errors).length) return { errors };
  const body: Record<string, unknown> = {};
  const aug: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) {
    if (k.startsWith('augmentation.')) aug[k.slice(13)] = v;
    else if (k === 'channels') body[k] = Number(v);
    else body[k] = v;
  }
  body.augmentation = aug;
  for (const [k, v] of Object.entries(extra)) {
    if (k === 'augmentation' && v && typeof v === 'object') body.augmentation = { ...aug, ...(v as object) };
    else body[k] = v;
  }
  return { body, errors };
}

export function TrainingDialog(props: { open: boolean; e: Experiment; onClose: () => void; onLaunched: (v: TrainingView) => void }) {
  return (
    <Dialog open={props.open} title="Launch training with parameters" onClose={props.onClose} wide>
      {props.open && <TrainingFormBody {...props} />}
    </Dialog>
  );
}

function TrainingFormBody({ e, onClose, onLaunched }: { e: Experiment; onClose: () => void; onLaunched: (v: TrainingView) => void }) {
  const [values, setValues] = useState(() => trainingInitial(e.params as Record<string, unknown>));
  const [raw, setRaw] = useState('');
  const [errors, setErrors] = useState<Record<string, string | undefined>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    setFormError(null);
    const { body, errors: errs } = trainingBody(values, raw);
    setErrors(errs);
    if (!body) {
      const first = Object.keys(errs)[0];
      window.setTimeout(() => document.querySelector<HTMLElement>(`dialog [name="${first}"]`)?.focus(), 0);
      return;
    }
    setBusy(true);
    try {
      const v = await api.post<TrainingView>(`/experiments/${e.id}/launch`, body);
      toast("Training launched on the platform's trainer.", { kind: 'success' });
      onLaunched(v);
    } catch (err) {
      const msg = errorMessage(err);
      const aug = /augmentation: field '([a-z_]+)'/.exec(msg);
      const top = /field '([a-z_]+)'/.exec(msg);
      const name = err instanceof ApiError ? (aug ? `augmentation.${aug[1]}` : top ? top[1] : null) : null;
      if (name && name in values) setErrors({ [name]: msg });
      else setFormError(msg);
    } finally {
      setBusy(false);
    }
  };
  const set = (n: string, v: string) => {
    setValues((x) => ({ ...x, [n]: v }));
    if (errors[n]) setErrors((x) => ({ ...x, [n]: undefined }));
  };
  return (
    <form onSubmit={submit} noValidate aria-label="Training parameters">
      <p class="muted">
        Starts from the experiment's parameters where it has them, else the trainer's defaults. The run trains on the experiment's <code>train</code> and{' '}
        <code>val</code> dataset versions.
      </p>
      {TRAINING_PARAMS.map((g) => (
        <fieldset key={g.group} class="train-group">
          <legend>{g.group}</legend>
          <ParamForm specs={g.specs} values={values} errors={errors} onChange={set} label={g.group} />
        </fieldset>
      ))}
      <div class={errors.raw ? 'field field-invalid' : 'field'}>
        <label for="train-raw">More, as JSON (merged over the form)</label>
        <textarea id="train-raw" name="raw" value={raw} spellcheck={false} placeholder='{"architecture": {"layers": [...]}}' onInput={(ev) => setRaw((ev.target as HTMLTextAreaElement).value)} />
        {errors.raw && <div class="field-error">{errors.raw}</div>}
      </div>
      <FormError message={formError} />
      <div class="dialog-actions">
        <button type="button" class="button" onClick={onClose}>
          Cancel
        </button>
        <button type="submit" class="button button-primary" disabled={busy}>
          {busy ? 'Launching…' : 'Launch'}
        </button>
      </div>
    </form>
  );
}
