// End-to-end test of the training parameters form on the experiment page
// (issue 8), against the server started by tests/web/run: a small
// Fashion-MNIST sample gives an experiment ready to launch with parameters
// of its own. The form starts from them (else the trainer's defaults from
// src/training/config.c), shows bounds, refuses an out-of-bounds value before
// sending and places the API's own refusal under its field, launches nothing
// on a mistake, and launches with what was typed (augmentation nested, raw
// JSON merged over the form), checked in the run's stored config. The
// detector fields: a detector's input size not a multiple of 32 and a
// detector with task classification are refused in the form. A second test
// trains a tiny detector on the shapes sample (1 epoch, 64 px): the
// experiment page says "val mAP", and its checkpoint pre-annotates a fresh
// version through the "Pre-annotate…" dialog, which shows the pending count.
// Screenshots go to tests/out/web/trainingform-*.png.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BASE, PASSWORD, TOKEN, OUT, openAdminPage } from './common.mjs';

assert.ok(BASE && PASSWORD && TOKEN && OUT, 'run this through tests/web/run');
const T = 10_000;

let browser, page;
const pageErrors = [];

async function apiCall(method, path, body) {
  const res = await fetch(BASE + '/api/v1' + path, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, data: text ? JSON.parse(text) : null };
}

async function sample(tag) {
  const u = `${tag}-${Date.now().toString(36)}`;
  const r = await apiCall('POST', '/samples/fashion-mnist', { dataset: `fm-${u}`, project: `gs-${u}`, train: 32, val: 16, test: 16 });
  assert.equal(r.status, 202, JSON.stringify(r.data));
  for (let i = 0; i < 600; i++) {
    const j = await apiCall('GET', `/jobs/${r.data.job_id}`);
    if (j.data.state === 'succeeded') return j.data.result;
    assert.ok(j.data.state === 'queued' || j.data.state === 'running', `sample job ${j.data.state}: ${j.data.error}`);
    await new Promise((res) => setTimeout(res, 200));
  }
  assert.fail('the sample job did not finish in 120 s');
}

before(async () => {
  ({ browser, page } = await openAdminPage(T, { pageErrors, width: 1440 }));
});

after(async () => {
  await browser?.close();
  assert.deepEqual(pageErrors, [], 'no errors in the page');
});

test('the training form: defaults and the experiment parameters, bounds, API errors in place, launch with the values', async () => {
  const s = await sample('form');
  const p = await apiCall('POST', `/experiments/${s.experiment_id}/params`, { params: { epochs: 2, width: 0.25, batch_size: 16 } });
  assert.equal(p.status, 200, JSON.stringify(p.data));
  await page.goto(`/projects/${s.project_id}/experiments/${s.experiment_id}`);
  await page.getByRole('button', { name: 'Training parameters…' }).click();
  const dlg = page.getByRole('dialog', { name: 'Launch training with parameters' });
  await dlg.waitFor();
  const field = (name) => dlg.locator('.field').filter({ has: page.getByLabel(name, { exact: true }) });
  // the experiment's own parameters, else the trainer's defaults
  assert.equal(await dlg.getByLabel('epochs', { exact: true }).inputValue(), '2');
  assert.equal(await dlg.getByLabel('batch_size', { exact: true }).inputValue(), '16');
  assert.equal(await dlg.getByLabel('width', { exact: true }).inputValue(), '0.25');
  assert.equal(await dlg.getByLabel('momentum', { exact: true }).inputValue(), '0.9');
  assert.equal(await dlg.getByLabel('optimizer', { exact: true }).inputValue(), 'adamw');
  assert.equal(await dlg.getByLabel('schedule', { exact: true }).inputValue(), 'cosine');
  const own = (await apiCall('GET', `/experiments/${s.experiment_id}`)).data.params;
  assert.equal(await dlg.getByLabel('lr', { exact: true }).inputValue(), own.lr === undefined ? '' : String(own.lr), "the sample's learning rate, else empty (automatic)");
  assert.match(await field('lr').textContent(), /0\.002 for adamw, 0\.1 for sgd/);
  assert.match(await field('epochs').textContent(), /1 to 1000/);
  assert.equal(await dlg.getByLabel('augmentation.hflip').isChecked(), own['augmentation.hflip'] === true, "the sample's flip setting");
  assert.equal(await dlg.getByLabel('augmentation.vflip').isChecked(), false, 'the default: no vertical flips');
  // out of bounds: refused here, nothing launched
  await dlg.getByLabel('epochs', { exact: true }).fill('0');
  await dlg.getByRole('button', { name: 'Launch', exact: true }).click();
  await field('epochs').getByText('epochs must be 1 to 1000, got 0.').waitFor();
  assert.equal((await apiCall('GET', `/experiments/${s.experiment_id}/training`)).data.runs.length, 0);
  // the API's own refusal (input_size under 8) lands under its field
  await dlg.getByLabel('epochs', { exact: true }).fill('1');
  await dlg.getByLabel('input_size', { exact: true }).fill('4');
  await dlg.getByRole('button', { name: 'Launch', exact: true }).click();
  await field('input_size').getByText(/input_size' must be at least 8 pixels/).waitFor();
  assert.equal((await apiCall('GET', `/experiments/${s.experiment_id}/training`)).data.runs.length, 0);
  // a detector's input must be a multiple of 32, and a detector is not a classification task: refused here
  await dlg.getByLabel('architecture', { exact: true }).selectOption('detector-nano');
  await dlg.getByLabel('input_size', { exact: true }).fill('100');
  await dlg.getByRole('button', { name: 'Launch', exact: true }).click();
  await field('input_size').getByText("input_size is 100 but a detector's input must be a multiple of its stride 32 (e.g. 96 or 128).").waitFor();
  await dlg.getByLabel('input_size', { exact: true }).fill('96');
  await dlg.getByLabel('task', { exact: true }).selectOption('classification');
  await dlg.getByRole('button', { name: 'Launch', exact: true }).click();
  await field('task').getByText("architecture 'detector-nano' is a detector but task is classification").waitFor();
  assert.equal(await field('input_size').locator('.field-error').count(), 0, '96 is a multiple of 32');
  for (const f of ['score_thr', 'nms_iou', 'mosaic', 'close_mosaic', 'val_input_size']) await dlg.getByLabel(f, { exact: true }).waitFor();
  assert.equal(await dlg.getByLabel('nms_iou', { exact: true }).inputValue(), '0.7');
  assert.equal((await apiCall('GET', `/experiments/${s.experiment_id}/training`)).data.runs.length, 0);
  await dlg.getByLabel('task', { exact: true }).selectOption('');
  await dlg.getByLabel('architecture', { exact: true }).selectOption('cnn');
  // broken JSON is refused too
  await dlg.getByLabel('input_size', { exact: true }).fill('0');
  await dlg.getByLabel('More, as JSON (merged over the form)').fill('{"label_smoothing": ');
  await dlg.getByRole('button', { name: 'Launch', exact: true }).click();
  await dlg.getByText(/^Not valid JSON/).waitFor();
  await page.screenshot({ path: join(OUT, 'trainingform-01-errors.png') });
  // launch: typed values, augmentation nested, JSON merged over the form
  await dlg.getByLabel('More, as JSON (merged over the form)').fill('{"label_smoothing": 0.1}');
  await dlg.getByLabel('augmentation.vflip').check();
  await dlg.getByLabel('augmentation.pad', { exact: true }).fill('2');
  await dlg.getByLabel('seed', { exact: true }).fill('5');
  await dlg.getByLabel('optimizer', { exact: true }).selectOption('sgd');
  await dlg.getByLabel('lr', { exact: true }).fill('0.05');
  await dlg.getByRole('button', { name: 'Launch', exact: true }).click();
  await dlg.waitFor({ state: 'hidden' });
  const t = (await apiCall('GET', `/experiments/${s.experiment_id}/training`)).data;
  assert.equal(t.runs.length, 1);
  const c = t.current.config;
  assert.equal(c.epochs, 1);
  assert.equal(c.batch_size, 16);
  assert.equal(c.width, 0.25);
  assert.equal(c.seed, 5);
  assert.equal(c.optimizer, 'sgd');
  assert.equal(c.lr, 0.05);
  assert.equal(c.label_smoothing, 0.1);
  assert.equal(c.augmentation.vflip, true);
  assert.equal(c.augmentation.pad, 2);
  await page.getByTestId('training-progress').waitFor();
  // let it finish so the server stops cleanly with nothing running
  await page.getByTestId('exp-status').getByText(/succeeded|failed/).waitFor({ timeout: 120_000 });
  assert.match(await page.getByTestId('exp-status').textContent(), /succeeded/);
});

async function waitJob(id, what) {
  for (let i = 0; i < 900; i++) {
    const j = (await apiCall('GET', `/jobs/${id}`)).data;
    if (j.state === 'succeeded') return j.result;
    assert.ok(j.state === 'queued' || j.state === 'running', `${what} ${j.state}: ${j.error}`);
    await new Promise((res) => setTimeout(res, 200));
  }
  assert.fail(`${what} did not finish in 180 s`);
}

test('a detection run shows val mAP; its checkpoint pre-annotates a fresh version, the dialog counts the pending annotations', async () => {
  const u = `det-${Date.now().toString(36)}`;
  const r = await apiCall('POST', '/samples/shapes', { dataset: `shapes-${u}`, project: `gs-${u}`, images: 12, size: 64 });
  assert.equal(r.status, 202, JSON.stringify(r.data));
  const s = await waitJob(r.data.job_id, 'shapes sample');
  const l = await apiCall('POST', `/experiments/${s.experiment_id}/launch`, { architecture: 'detector-nano', task: 'detection', input_size: 64, epochs: 1, batch_size: 4, mosaic: 0 });
  assert.ok(l.status === 200 || l.status === 202, JSON.stringify(l.data));
  await page.goto(`/projects/${s.project_id}/experiments/${s.experiment_id}`);
  await page.getByTestId('exp-status').getByText(/succeeded|failed/).waitFor({ timeout: 150_000 });
  assert.match(await page.getByTestId('exp-status').textContent(), /succeeded/);
  const progress = await page.getByTestId('training-progress').textContent();
  assert.match(progress, /val mAP \d\.\d{3}/, progress);
  assert.doesNotMatch(progress, /val acc/);
  // a fresh version of the dataset, its images without annotations
  const v2 = (await apiCall('POST', `/datasets/${s.dataset_id}/versions`, { name: 'fresh', task: 'detection' })).data;
  const add = await apiCall('POST', `/dataset-versions/${v2.id}/assets`, { q: '' });
  assert.ok(add.status < 300, JSON.stringify(add.data));
  await page.goto(`/datasets/${s.dataset_id}/versions/${v2.id}`);
  await page.getByRole('button', { name: 'Pre-annotate…' }).click();
  const dlg = page.getByRole('dialog', { name: /^Pre-annotate/ });
  await dlg.getByLabel('Model from').selectOption('experiment_id');
  await dlg.getByLabel('Experiment').fill(String(s.experiment_id));
  await dlg.getByLabel('Score threshold').fill('0');
  await dlg.getByLabel('Max detections').fill('2');
  await dlg.getByRole('button', { name: 'Pre-annotate', exact: true }).click();
  await dlg.locator('[data-testid="job-follow"][data-state="succeeded"]').waitFor({ timeout: 60_000 });
  await dlg.getByTestId('preann-pending').waitFor();
  const stats = (await apiCall('GET', `/dataset-versions/${v2.id}/stats`)).data;
  assert.ok(stats.status.pending > 0, JSON.stringify(stats.status));
  assert.equal((await dlg.getByTestId('preann-pending').locator('strong').textContent()).trim(), String(stats.status.pending));
  assert.match(await dlg.getByTestId('preann-result').textContent(), /pre-annotated with \d+ shapes/);
  await page.screenshot({ path: join(OUT, 'trainingform-02-preannotated.png') });
});
