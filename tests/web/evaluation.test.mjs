// End-to-end test of the evaluation page in a real browser, against the
// server started by tests/web/run. The data is made through the API: a
// datalake of four generated PNGs, a detection version with boxes, an
// experiment with an evaluation whose predictions have known true positives,
// false positives and misses, evaluated by the job. The test then opens the
// experiment's Evaluations tab, the evaluation page (summary, PR curves,
// confusion matrix), clicks a confusion cell, opens an image from it, checks
// the drawn shapes and their colours, moves the score slider and watches
// predictions hide, and filters the image grid. Screenshots go to
// tests/out/web/evaluation-*.png.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { multipart, png } from './images.mjs';
import { BASE, PASSWORD, TOKEN, OUT, api, ok, openAdminPage } from './common.mjs';

assert.ok(BASE && PASSWORD && TOKEN && OUT, 'run this through tests/web/run');
const T = 10_000;

let browser, page, ids;
const pageErrors = [];
let shot = 0;

async function screenshot(name) {
  shot++;
  await page.waitForTimeout(150);
  await page.screenshot({ path: join(OUT, `evaluation-${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
}

/* four 160x120 images; cat/dog boxes; predictions:
 *   img0: cat TP (.9), dog TP (.8), cat FP background (.3: under .5, not evaluated)
 *   img1: cat FP localization (.7) -> cat missed
 *   img2: cat on the dog (.95): FP classification, dog missed
 *   img3: nothing predicted -> cat missed */
async function makeData() {
  const suffix = Date.now().toString(36);
  const lake = await ok('POST', '/datalakes', { name: `evlake-${suffix}` });
  const mp = multipart([0, 1, 2, 3].map((i) => ({ name: `ev-${i}.png`, bytes: png(160, 120, 500 + i) })));
  const up = await api('POST', `/datalakes/${lake.id}/data/batch`, mp.body, { 'Content-Type': mp.contentType });
  assert.equal(up.status, 200, JSON.stringify(up.data));
  const ds = await ok('POST', '/datasets', { name: `evds-${suffix}`, datalake_id: lake.id });
  const v = await ok('POST', `/datasets/${ds.id}/versions`, { name: 'v1', task: 'detection' });
  await ok('POST', `/dataset-versions/${v.id}/assets`, { q: '' });
  await ok('POST', `/dataset-versions/${v.id}/labels`, { name: 'cat' });
  await ok('POST', `/dataset-versions/${v.id}/labels`, { name: 'dog' });
  const assets = (await ok('GET', `/dataset-versions/${v.id}/assets?limit=100&order_by=filename`)).items.map((a) => a.id);
  const box = (label, b, score) => ({ kind: 'box', label, box: b, ...(score !== undefined ? { score } : {}) });
  await ok('POST', `/dataset-versions/${v.id}/annotations`, {
    annotations: [
      { asset_id: assets[0], status: 'accepted', shapes: [box('cat', [10, 10, 50, 50]), box('dog', [90, 20, 50, 60])] },
      { asset_id: assets[1], status: 'accepted', shapes: [box('cat', [20, 20, 80, 80])] },
      { asset_id: assets[2], status: 'accepted', shapes: [box('dog', [30, 30, 60, 60])] },
      { asset_id: assets[3], status: 'accepted', shapes: [box('cat', [50, 40, 40, 40])] },
    ],
  });
  const proj = await ok('POST', '/projects', { name: `evproj-${suffix}` });
  const exp = await ok('POST', `/projects/${proj.id}/experiments`, { name: 'detector' });
  const ev = await ok('POST', `/experiments/${exp.id}/evaluations`, { name: 'val', dataset_version_id: v.id });
  await ok('POST', `/evaluations/${ev.id}/predictions`, {
    predictions: [
      { asset_id: assets[0], shapes: [box('cat', [10, 10, 50, 50], 0.9), box('dog', [90, 22, 50, 56], 0.8), box('cat', [120, 90, 30, 20], 0.3)] },
      { asset_id: assets[1], shapes: [box('cat', [20, 20, 80, 30], 0.7)] },
      { asset_id: assets[2], shapes: [box('cat', [30, 30, 60, 60], 0.95)] },
    ],
  });
  const job = await ok('POST', `/evaluations/${ev.id}/evaluate`, {});
  for (let i = 0; i < 200; i++) {
    const j = (await api('GET', `/jobs/${job.id}`)).data;
    if (j.state === 'succeeded') break;
    assert.ok(j.state !== 'failed', j.error);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { project: proj.id, exp: exp.id, ev: ev.id, assets };
}

before(async () => {
  ids = await makeData();
  ({ browser, page } = await openAdminPage(T, { pageErrors }));
});

after(async () => {
  await browser?.close();
  assert.deepEqual(pageErrors, [], 'no errors in the page');
});

test('the experiment lists its evaluation; the page shows the summary, PR curves and the confusion matrix', async () => {
  await page.goto(`/projects/${ids.project}/experiments/${ids.exp}/evaluations`);
  const link = page.getByRole('link', { name: 'val', exact: true });
  await link.waitFor();
  await page.getByText(/mAP 0\.\d{3}/).waitFor();
  await link.click();
  await page.getByRole('heading', { name: 'val', level: 1 }).waitFor();
  const summary = page.getByTestId('ev-summary');
  await summary.waitFor();
  const evr = (await api('GET', `/evaluations/${ids.ev}`)).data;
  const map = evr.summary.stats[0].toFixed(3);
  assert.match(await summary.innerText(), new RegExp(map.replace('.', '\\.')));
  // 2 TP, 2 FP (the .3 one is under the threshold), 3 missed
  await page.getByText(/2\s+true positives, 2\s+false positives, 3\s+missed/).waitFor();
  await page.getByRole('heading', { name: 'Precision-recall curves' }).waitFor();
  await page.getByRole('heading', { name: 'Confusion matrix' }).waitFor();
  await screenshot('page');
});

test('a confusion cell lists its images; an image shows truth and predictions; the slider hides predictions', async () => {
  // row cat, column background: the cats missed (img1 and img3)
  const cell = page.locator('td.heatmap-cell[data-row="cat"][data-col="background"]');
  assert.equal((await cell.innerText()).trim(), '2');
  await cell.click();
  const list = page.getByTestId('ev-cell');
  await list.waitFor();
  await list.getByText(/Truth cat, predicted background: 2 in 2 images/).waitFor();
  assert.equal(await list.locator('.ev-thumb').count(), 2);
  assert.match(page.url(), /cell=0%2C2|cell=0,2/);
  await screenshot('cell');
  await list.locator('.ev-thumb').first().click(); // img1: one localization FP, the cat missed
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  await dialog.locator('[data-state="fp"]').waitFor();
  assert.equal(await dialog.locator('[data-state="fn"]').count(), 1);
  assert.match(await dialog.locator('[data-state="fp"] text').textContent(), /localization/);
  assert.equal(await dialog.locator('[data-state="fp"] rect').getAttribute('stroke'), '#e03131');
  assert.equal(await dialog.locator('[data-state="fn"] rect').getAttribute('stroke'), '#f08c00');
  await screenshot('image-fp-fn');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });

  // img0 from the grid: 2 TP drawn green; the .3 prediction hidden until the slider goes under it
  const grid = page.getByTestId('ev-images');
  await page.getByLabel('Order', { exact: true }).selectOption('asset');
  await grid.getByRole('button', { name: /ev-0\.png|Image .*: 2 TP/ }).first().click();
  await dialog.waitFor();
  await dialog.locator('[data-state="tp"]').first().waitFor();
  assert.equal(await dialog.locator('[data-state="tp"]').count(), 2);
  assert.equal(await dialog.locator('[data-state="tp"] rect').first().getAttribute('stroke'), '#2b9348');
  assert.match(await page.getByTestId('ev-shown').innerText(), /^2 of 3 predictions shown/);
  const slider = dialog.getByLabel('Score threshold');
  await slider.fill('0.2');
  await page.getByTestId('ev-threshold').getByText('0.20').waitFor();
  assert.match(await page.getByTestId('ev-shown').innerText(), /^3 of 3 predictions shown/);
  assert.equal(await dialog.locator('[data-state="below threshold"]').count(), 1);
  await screenshot('image-slider-low');
  await slider.fill('0.85');
  assert.match(await page.getByTestId('ev-shown').innerText(), /^1 of 3 predictions shown/);
  await screenshot('image-slider-high');
  await page.keyboard.press('Escape');
});

test('the image grid filters by false positives, misses and label', async () => {
  await page.getByLabel('False positives', { exact: true }).selectOption('1');
  await page.getByTestId('ev-total').getByText('2 images').waitFor();
  await page.getByLabel('False positives', { exact: true }).selectOption('');
  await page.getByLabel('Missed (FN)', { exact: true }).selectOption('1');
  await page.getByTestId('ev-total').getByText('3 images').waitFor();
  await page.getByLabel('Label', { exact: true }).selectOption('dog');
  await page.getByTestId('ev-total').getByText('1 image', { exact: true }).waitFor();
  assert.match(page.url(), /has_fn=1/);
  await screenshot('filtered');
});
