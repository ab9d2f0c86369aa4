// End-to-end test of the Models (registry) pages in a real browser, against
// the server started by tests/web/run. Made through the API: a dataset
// version attached to an experiment with parameters and two artifacts,
// published as version 1 of a model (lineage), and a version 2 from uploaded
// files. The test opens the models list (search), a model, its versions,
// a version's files (a download checked byte for byte), labels, parameters and
// lineage links, then moves an alias with the dialog (and sees the API's
// refusal of a bad alias name), checking each move through the API and in
// the alias history; last, publishes an experiment from its page into the
// model (and sees the API's refusal for one without artifacts).
// Screenshots go to tests/out/web/models-*.png.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BASE, PASSWORD, TOKEN, OUT, api, ok, openAdminPage } from './common.mjs';

assert.ok(BASE && PASSWORD && TOKEN && OUT, 'run this through tests/web/run');
const T = 10_000;

let browser, page, ids;
const pageErrors = [];
let shot = 0;

async function screenshot(name) {
  shot++;
  await page.waitForTimeout(150);
  await page.screenshot({ path: join(OUT, `models-${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
}

const WEIGHTS = Buffer.from('pretend weights of version one \u0000\u0001\u0002');

async function makeData() {
  const suffix = Date.now().toString(36);
  const lake = await ok('POST', '/datalakes', { name: `mlake-${suffix}` });
  const ds = await ok('POST', '/datasets', { name: `mds-${suffix}`, datalake_id: lake.id });
  const dv = await ok('POST', `/datasets/${ds.id}/versions`, { name: 'v1', task: 'classification' });
  const proj = await ok('POST', '/projects', { name: `mproj-${suffix}` });
  const exp = await ok('POST', `/projects/${proj.id}/experiments`, { name: 'resnet-run', params: { lr: 0.0125, epochs: 7 } });
  await ok('PUT', `/experiments/${exp.id}/datasets/train`, { dataset_version_id: dv.id });
  await ok('PUT', `/experiments/${exp.id}/artifacts?path=checkpoints/best.bin`, WEIGHTS);
  await ok('PUT', `/experiments/${exp.id}/artifacts?path=arch.json`, Buffer.from('{"layers": []}'));
  const name = `classifier-${suffix}`;
  const v1 = await ok('POST', `/experiments/${exp.id}/publish`, { model: name, labels: ['cat', 'dog', 'bird'] });
  const sha = (await ok('PUT', '/files', Buffer.from('onnx bytes'))).sha256;
  const v2 = await ok('POST', `/models/${v1.model_id}/versions`, { framework: 'onnx', labels: ['cat', 'dog'], files: [{ path: 'model.onnx', sha256: sha }] });
  await ok('POST', '/models', { name: `other-${suffix}` });
  const empty = await ok('POST', `/projects/${proj.id}/experiments`, { name: 'nothing-saved' });
  return { name, model: v1.model_id, v1: v1.id, v2: v2.id, project: proj.id, exp: exp.id, empty: empty.id, dataset: ds.id, dv: dv.id, dsName: ds.name, suffix };
}

before(async () => {
  ids = await makeData();
  ({ browser, page } = await openAdminPage(T, { pageErrors, acceptDownloads: true }));
});

after(async () => {
  await browser?.close();
  assert.deepEqual(pageErrors, [], 'no errors in the page');
});

test('the models list shows the registry and filters by name', async () => {
  await page.getByRole('navigation').getByRole('link', { name: 'Models' }).click();
  await page.getByRole('heading', { name: 'Models', level: 1 }).waitFor();
  const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: ids.name }) });
  await row.waitFor();
  assert.match(await row.textContent(), /v2/, 'latest version 2');
  assert.equal((await row.getByRole('cell').nth(2).textContent()).trim(), '2', 'two versions');
  await page.getByLabel('Search models').fill(`other-${ids.suffix}`);
  await page.getByRole('link', { name: `other-${ids.suffix}` }).waitFor();
  await page.getByRole('link', { name: ids.name }).waitFor({ state: 'detached' });
  assert.match(page.url(), /[?&]q=other-/, 'the search is in the URL');
  await page.getByLabel('Search models').fill('classifier-');
  await page.getByRole('link', { name: ids.name }).click();
  await page.getByRole('heading', { name: ids.name, level: 1 }).waitFor();
  const versions = page.getByRole('table', { name: 'Versions' });
  await versions.getByRole('link', { name: 'v1', exact: true }).waitFor();
  await versions.getByRole('link', { name: 'v2', exact: true }).waitFor();
  const v1row = versions.getByRole('row').filter({ has: page.getByRole('link', { name: 'v1', exact: true }) });
  assert.match(await v1row.textContent(), /resnet-run/, 'v1 names its source experiment');
  const v2row = versions.getByRole('row').filter({ has: page.getByRole('link', { name: 'v2', exact: true }) });
  assert.match(await v2row.textContent(), /onnx/);
  assert.match(await v2row.textContent(), /uploaded/);
  await screenshot('model');
});

test('a version shows its files (downloadable), labels, parameters and lineage', async () => {
  await page.getByRole('table', { name: 'Versions' }).getByRole('link', { name: 'v1', exact: true }).click();
  await page.getByRole('heading', { name: `${ids.name} v1`, level: 1 }).waitFor();
  const files = page.getByRole('table', { name: 'Files' });
  await files.getByRole('link', { name: 'checkpoints/best.bin' }).waitFor();
  await files.getByRole('link', { name: 'arch.json' }).waitFor();
  const [download] = await Promise.all([page.waitForEvent('download'), files.getByRole('link', { name: 'checkpoints/best.bin' }).click()]);
  assert.equal(download.suggestedFilename(), 'best.bin');
  const got = await readFile(await download.path());
  assert.deepEqual(got, WEIGHTS, 'the downloaded file is the artifact, byte for byte');
  const labels = await page.getByRole('list', { name: 'Labels in output order' }).getByRole('listitem').allTextContents();
  assert.deepEqual(labels.map((l) => l.replace(/\s+/g, ' ').trim()), ['0 cat', '1 dog', '2 bird']);
  const params = await page.getByLabel('Parameter values').textContent();
  assert.match(params, /lr\s*0\.0125/);
  assert.match(params, /epochs\s*7/);
  const exp = page.getByRole('link', { name: 'resnet-run' });
  assert.equal(await exp.getAttribute('href'), `/projects/${ids.project}/experiments/${ids.exp}`);
  const dsLink = page.getByRole('list', { name: 'Dataset versions' }).getByRole('link');
  assert.equal((await dsLink.textContent()).trim(), `${ids.dsName} / v1`);
  assert.equal(await dsLink.getAttribute('href'), `/datasets/${ids.dataset}/versions/${ids.dv}`);
  assert.match(await page.getByRole('list', { name: 'Dataset versions' }).textContent(), /^train:/);
  await screenshot('version');
});

test('moving an alias with the dialog: atomic, logged, a bad name refused in the API words', async () => {
  await page.goto(`/models/${ids.model}`);
  await page.getByRole('heading', { name: ids.name, level: 1 }).waitFor();
  await page.getByText('No alias yet').waitFor();
  await page.getByRole('button', { name: 'Move an alias…' }).click();
  const dlg = page.getByRole('dialog', { name: 'Move an alias' });
  await dlg.getByLabel('Alias').fill('Bad Name');
  await dlg.getByLabel('Version').selectOption('2');
  await dlg.getByRole('button', { name: 'Move alias' }).click();
  await dlg.getByRole('alert').or(dlg.locator('.field-error')).first().waitFor();
  const msg = await dlg.locator('.field-error, .form-error').first().textContent();
  assert.match(msg, /alias/i, `the API's message about the alias: ${msg}`);
  assert.deepEqual((await ok('GET', `/models/${ids.model}`)).aliases, {}, 'nothing was set');
  await dlg.getByLabel('Alias').fill('champion');
  await dlg.getByRole('button', { name: 'Move alias' }).click();
  await dlg.waitFor({ state: 'hidden' });
  const aliases = page.getByRole('list', { name: 'Aliases' });
  await aliases.getByText('champion → v2').waitFor();
  assert.deepEqual((await ok('GET', `/models/${ids.model}`)).aliases, { champion: 2 });
  // move it back to v1 with its own button; the version row shows it
  await page.getByRole('button', { name: 'Move champion' }).click();
  const dlg2 = page.getByRole('dialog', { name: 'Move champion' });
  assert.equal(await dlg2.getByLabel('Version').inputValue(), '2', 'the dialog starts at where the alias is');
  await dlg2.getByLabel('Version').selectOption('1');
  await dlg2.getByRole('button', { name: 'Move alias' }).click();
  await dlg2.waitFor({ state: 'hidden' });
  await aliases.getByText('champion → v1').waitFor();
  assert.deepEqual((await ok('GET', `/models/${ids.model}`)).aliases, { champion: 1 });
  const history = page.getByRole('table', { name: 'Alias history' });
  await history.getByRole('row').nth(2).waitFor();
  const rows = await history.getByRole('row').allTextContents();
  assert.equal(rows.length, 3, 'a header and two moves');
  assert.match(rows[1], /champion\s*v2\s*v1/, 'newest first: v2 -> v1');
  assert.match(rows[2], /champion\s*—\s*v2/, 'then: set to v2');
  const v1row = page.getByRole('table', { name: 'Versions' }).getByRole('row').filter({ has: page.getByRole('link', { name: 'v1', exact: true }) });
  assert.match(await v1row.textContent(), /champion/);
  // the version page by alias
  await page.goto(`/models/${ids.model}/versions/champion`);
  await page.getByRole('heading', { name: `${ids.name} v1`, level: 1 }).waitFor();
  await page.getByRole('list', { name: 'Aliases of this version' }).getByText('champion → v1').waitFor();
  await screenshot('aliases');
});

test('publish an experiment from its page: a new version with its lineage; one without artifacts is refused in the API words', async () => {
  await page.goto(`/projects/${ids.project}/experiments/${ids.empty}`);
  await page.getByRole('button', { name: 'Publish as model…' }).click();
  let dlg = page.getByRole('dialog', { name: 'Publish as model' });
  await dlg.getByLabel('Model', { exact: true }).fill(ids.name);
  await dlg.getByText(`A new version of ${ids.name} (now 2 versions).`).waitFor();
  await dlg.getByRole('button', { name: 'Publish' }).click();
  await dlg.getByRole('alert').getByText(/no artifacts/).waitFor();
  assert.equal((await ok('GET', `/models/${ids.model}`)).versions, 2, 'nothing published');
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  await page.goto(`/projects/${ids.project}/experiments/${ids.exp}`);
  await page.getByRole('button', { name: 'Publish as model…' }).click();
  dlg = page.getByRole('dialog', { name: 'Publish as model' });
  await dlg.getByLabel('Model', { exact: true }).fill(ids.name);
  await dlg.getByLabel('Labels (optional)').fill('cat, dog');
  await dlg.getByRole('button', { name: 'Publish' }).click();
  await page.getByRole('heading', { name: `${ids.name} v3`, level: 1 }).waitFor();
  const v3 = await ok('GET', `/models/${ids.model}/versions/3`);
  assert.deepEqual(v3.labels, ['cat', 'dog']);
  assert.equal(v3.source_experiment_id, ids.exp);
  await page.getByRole('table', { name: 'Files' }).getByRole('link', { name: 'checkpoints/best.bin' }).waitFor();
  assert.equal(await page.getByRole('link', { name: 'resnet-run' }).getAttribute('href'), `/projects/${ids.project}/experiments/${ids.exp}`);
});

test('a version status: archived with a reason', async () => {
  await page.goto(`/models/${ids.model}/versions/2`);
  await page.getByRole('heading', { name: `${ids.name} v2`, level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Status…' }).click();
  const dlg = page.getByRole('dialog', { name: 'Status of v2' });
  assert.equal(await dlg.getByLabel('Status').inputValue(), 'ready');
  await dlg.getByLabel('Status').selectOption('archived');
  await dlg.getByLabel('Reason (optional)').fill('superseded by v3');
  await dlg.getByRole('button', { name: 'Save status' }).click();
  await dlg.waitFor({ state: 'hidden' });
  await page.locator('.page-subtitle').getByText('(superseded by v3)').waitFor();
  assert.equal((await page.locator('.page-subtitle .badge').textContent()).trim(), 'archived');
  const v = await ok('GET', `/models/${ids.model}/versions/2`);
  assert.equal(v.status, 'archived');
  assert.equal(v.status_reason, 'superseded by v3');
});

test('Deploy… from a version: the new deployment starts with it as the champion', async () => {
  await page.goto(`/models/${ids.model}/versions/1`);
  await page.getByRole('link', { name: 'Deploy…' }).click();
  const dlg = page.getByRole('dialog', { name: 'New deployment' });
  await dlg.waitFor();
  await page.waitForFunction(() => document.querySelector('dialog select[name="champion"]')?.options.length > 1);
  assert.equal(await dlg.getByLabel('Champion').inputValue(), String(ids.v1));
  const name = `from-registry-${ids.suffix}`;
  await dlg.getByLabel('Name').fill(name);
  await dlg.getByRole('button', { name: 'Create deployment' }).click();
  await page.getByRole('heading', { name, level: 1 }).waitFor();
  await page.locator('section.card').filter({ has: page.getByRole('heading', { name: 'Settings', exact: true }) }).getByRole('link', { name: `${ids.name} v1` }).waitFor();
  const d = (await ok('GET', '/deployments')).items.find((x) => x.name === name);
  assert.equal(d.champion_version_id, ids.v1);
});
