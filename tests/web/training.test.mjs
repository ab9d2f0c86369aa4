// End-to-end tests of training from the web UI (docs/training.md), against
// the server started by tests/web/run: a small Fashion-MNIST sample
// (POST /samples/fashion-mnist) gives experiments ready to launch; on the
// experiment page, Launch training starts a run on the platform's trainer,
// its epoch shows next to the status, Cancel training stops it and Resume
// training is then offered; a run that ends shows its test accuracy and no
// launch button. Screenshots go to tests/out/web/training-*.png.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BASE, PASSWORD, TOKEN, OUT, openAdminPage } from './common.mjs';

assert.ok(BASE && PASSWORD && TOKEN && OUT, 'run this through tests/web/run');
const T = 10_000;
const RUN_T = 120_000; // a tiny training on a loaded 2-core machine


let browser, page;
const pageErrors = [];
let shot = 0;

async function screenshot(p, name) {
  shot++;
  await p.waitForTimeout(150);
  await p.screenshot({ path: join(OUT, `training-${String(shot).padStart(2, '0')}-${name}.png`) });
}

async function apiCall(method, path, body) {
  const res = await fetch(BASE + '/api/v1' + path, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, data: text ? JSON.parse(text) : null };
}

// A small sample: its own dataset, project and ready-to-launch experiment.
async function sample(tag) {
  const u = `${tag}-${Date.now().toString(36)}`;
  const r = await apiCall('POST', '/samples/fashion-mnist', { dataset: `fm-${u}`, project: `gs-${u}`, train: 48, val: 16, test: 16 });
  assert.equal(r.status, 202, JSON.stringify(r.data));
  for (let i = 0; i < 600; i++) {
    const j = await apiCall('GET', `/jobs/${r.data.job_id}`);
    if (j.data.state === 'succeeded') return j.data.result;
    assert.ok(j.data.state === 'queued' || j.data.state === 'running', `sample job ${j.data.state}: ${j.data.error}`);
    await new Promise((res) => setTimeout(res, 200));
  }
  assert.fail('the sample job did not finish in 120 s');
}

const expUrl = (s) => `/projects/${s.project_id}/experiments/${s.experiment_id}`;

before(async () => {
  ({ browser, page } = await openAdminPage(T, { pageErrors, width: 1440 }));
});

after(async () => {
  await browser?.close();
});

test('launch from the experiment page, follow the epochs, cancel, then resume is offered', async () => {
  const s = await sample('cancel');
  // long enough to be canceled while it runs; tiny steps
  const p = await apiCall('POST', `/experiments/${s.experiment_id}/params`, { params: { epochs: 1000, time_budget: 0, width: 0.25, batch_size: 16 } });
  assert.equal(p.status, 200, JSON.stringify(p.data));
  await page.goto(expUrl(s));
  const launchBtn = page.getByRole('button', { name: 'Launch training' });
  await launchBtn.waitFor({ timeout: T });
  assert.equal(await page.getByRole('button', { name: 'Cancel training' }).count(), 0);
  await screenshot(page, 'ready');
  await launchBtn.click();
  const cancelBtn = page.getByRole('button', { name: 'Cancel training' });
  await cancelBtn.waitFor({ timeout: T });
  // the epochs move without a reload; wait for one to finish (a checkpoint to resume from)
  const progress = page.getByTestId('training-progress');
  await progress.getByText(/training running · epoch [1-9]\d*\/1000/).waitFor({ timeout: RUN_T });
  await screenshot(page, 'running');
  await cancelBtn.click();
  await page.getByTestId('exp-status').getByText('canceled').waitFor({ timeout: RUN_T });
  await page.getByRole('button', { name: 'Resume training' }).waitFor({ timeout: T });
  await page.getByRole('button', { name: 'Launch again' }).waitFor({ timeout: T });
  const t = await apiCall('GET', `/experiments/${s.experiment_id}/training`);
  assert.equal(t.data.current.state, 'canceled');
  assert.ok(t.data.current.epoch >= 1, `epochs done: ${t.data.current.epoch}`);
  assert.match(await progress.textContent(), new RegExp(`training canceled · epoch ${t.data.current.epoch}/1000`));
  await screenshot(page, 'canceled');
});

test('a run that ends shows its test accuracy and no launch button', async () => {
  const s = await sample('done');
  const p = await apiCall('POST', `/experiments/${s.experiment_id}/params`, { params: { epochs: 2, width: 0.25, batch_size: 16 } });
  assert.equal(p.status, 200, JSON.stringify(p.data));
  await page.goto(expUrl(s));
  await page.getByRole('button', { name: 'Launch training' }).click();
  await page.getByTestId('exp-status').getByText('succeeded').waitFor({ timeout: RUN_T });
  const progress = page.getByTestId('training-progress');
  await progress.getByText(/training succeeded · epoch 2\/2 · .* · test acc \d\.\d{3}/).waitFor({ timeout: T });
  assert.equal(await page.getByRole('button', { name: /Launch|Resume|Cancel training/ }).count(), 0);
  // what the run recorded is in the usual tabs
  await page.getByRole('navigation', { name: 'Experiment' }).getByRole('link', { name: /Artifacts/ }).click();
  await page.getByText('model.safetensors').waitFor({ timeout: T });
  await screenshot(page, 'succeeded');
});

test('an experiment without a train dataset has no launch button; no script error happened', async () => {
  const pr = await apiCall('POST', '/projects', { name: `plain-${Date.now().toString(36)}` });
  assert.equal(pr.status, 201, JSON.stringify(pr.data));
  const ex = await apiCall('POST', `/projects/${pr.data.id}/experiments`, { name: 'tracked-elsewhere' });
  assert.equal(ex.status, 201, JSON.stringify(ex.data));
  await page.goto(`/projects/${pr.data.id}/experiments/${ex.data.id}`);
  await page.getByRole('button', { name: 'Delete' }).waitFor({ timeout: T });
  assert.equal(await page.getByRole('button', { name: /Launch training/ }).count(), 0);
  assert.deepEqual(pageErrors, []);
});
