// End-to-end test of the "Pre-annotate…" dialog of a dataset version,
// against the server started by tests/web/run: the API's refusals under
// their field, then a run whose model file is not a checkpoint, followed in
// the dialog to its failure (a run with a trained detector and the pending
// count it leaves is in trainingform.test.mjs). Screenshots go to
// tests/out/web/preannotate-*.png.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { multipart, png } from './images.mjs';
import { BASE, PASSWORD, TOKEN, OUT, api, ok, openAdminPage } from './common.mjs';

assert.ok(BASE && PASSWORD && TOKEN && OUT, 'run this through tests/web/run');
const T = 10_000;

let browser, page, ids, pageErrors;
let shot = 0;

async function screenshot(name) {
  shot++;
  await page.waitForTimeout(150);
  await page.screenshot({ path: join(OUT, `preannotate-${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
}

async function makeData() {
  const suffix = Date.now().toString(36);
  const lake = await ok('POST', '/datalakes', { name: `prelake-${suffix}` });
  const mp = multipart([0, 1].map((i) => ({ name: `pre-${i}.png`, bytes: png(64, 64, 700 + i) })));
  assert.equal((await api('POST', `/datalakes/${lake.id}/data/batch`, mp.body, { 'Content-Type': mp.contentType })).status, 200);
  const ds = await ok('POST', '/datasets', { name: `preds-${suffix}`, datalake_id: lake.id });
  const dv = await ok('POST', `/datasets/${ds.id}/versions`, { name: 'v1', task: 'detection' });
  await ok('POST', `/dataset-versions/${dv.id}/assets`, { q: '' });
  const model = await ok('POST', '/models', { name: `preann-model-${suffix}`, task_type: 'detection' });
  const sha = (await api('PUT', '/files', Buffer.from('not a checkpoint'))).data.sha256;
  const mv = await ok('POST', `/models/${model.id}/versions`, { labels: ['obj'], files: [{ path: 'model.safetensors', sha256: sha }] });
  return { ds: ds.id, dv: dv.id, model: model.name, mv: mv.id };
}

before(async () => {
  ids = await makeData();
  ({ browser, page, pageErrors } = await openAdminPage(T));
});

after(async () => {
  await browser?.close();
  assert.deepEqual(pageErrors, [], 'no errors in the page');
});

const field = (dlg, label) => dlg.locator('.field').filter({ has: page.getByLabel(label, { exact: true }) }).locator('.field-error');

test('Pre-annotate…: errors under their field, then the job followed in the dialog', async () => {
  await page.goto(`/datasets/${ids.ds}/versions/${ids.dv}`);
  await page.getByRole('button', { name: 'Pre-annotate…' }).click();
  const dlg = page.getByRole('dialog', { name: /^Pre-annotate/ });
  // no model chosen: the API's message under "Model version"
  await dlg.getByRole('button', { name: 'Pre-annotate', exact: true }).click();
  await field(dlg, 'Model version').getByText('give the model').waitFor();
  // a threshold out of bounds: under "Score threshold"
  await dlg.getByLabel('Model version').selectOption({ label: `${ids.model} v1` });
  await dlg.getByLabel('Score threshold').fill('2');
  await dlg.getByRole('button', { name: 'Pre-annotate', exact: true }).click();
  await field(dlg, 'Score threshold').getByText("field 'score_threshold'").waitFor();
  // an experiment id that does not exist: under "Experiment"
  await dlg.getByLabel('Score threshold').fill('0.3');
  await dlg.getByLabel('Model from').selectOption('experiment_id');
  await dlg.getByLabel('Experiment').fill('999999');
  await dlg.getByRole('button', { name: 'Pre-annotate', exact: true }).click();
  await field(dlg, 'Experiment').waitFor();
  await screenshot('errors');
  // the model version's file is not a checkpoint: the job starts, the dialog follows it to its error
  await dlg.getByLabel('Model from').selectOption('model_version_id');
  await dlg.getByLabel('Model version').selectOption({ label: `${ids.model} v1` });
  await dlg.getByLabel('Replace pending shapes').check();
  await dlg.getByRole('button', { name: 'Pre-annotate', exact: true }).click();
  const follow = dlg.getByTestId('job-follow');
  await follow.waitFor();
  await dlg.locator('[data-testid="job-follow"][data-state="failed"]').waitFor({ timeout: 30_000 });
  assert.match(await follow.getByRole('alert').textContent(), /cannot be used for pre-annotation/, 'the job says why');
  await screenshot('failed');
  const runs = (await ok('GET', '/processing-runs?limit=5')).items ?? [];
  const run = runs.find((r) => r.processing?.name === 'pre-annotate');
  assert.ok(run, `a pre-annotate run: ${JSON.stringify(runs[0])}`);
  assert.equal(run.params.replace_pending, true, 'the checkbox reached the request');
  assert.equal(run.params.score_threshold, 0.3);
  await dlg.locator('.dialog-actions').getByRole('button', { name: 'Close' }).click();
  await dlg.waitFor({ state: 'hidden' });
});
