// End-to-end test of the Processings section in a real browser, against the
// server started by tests/web/run. Made through the API: a datalake of six
// generated PNGs and a dataset version holding four of them. The test reads
// the catalog, fills augment's generated form (defaults, bounds, a bad
// value refused with a message under its field and nothing launched),
// launches it on the version and follows the run to its new version; then
// starts from the Datalake page's "Run a processing…" with a query, gets the
// catalog filtered to what runs on a datalake, launches dedup with the query
// carried over and checks the tags it wrote; and checks that a picked image
// of a dataset version goes to the launch form as `id in (...)`.
// Screenshots go to tests/out/web/processings-*.png.
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
  await page.screenshot({ path: join(OUT, `processings-${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
}

async function makeData() {
  const suffix = Date.now().toString(36);
  const lake = await ok('POST', '/datalakes', { name: `plake-${suffix}` });
  const mp = multipart([0, 1, 2, 3, 4, 5].map((i) => ({ name: `p-${i}.png`, bytes: i < 4 ? png(96, 72, 700 + i) : png(240, 180, 800 + i) })));
  const up = await api('POST', `/datalakes/${lake.id}/data/batch`, mp.body, { 'Content-Type': mp.contentType });
  assert.equal(up.status, 200, JSON.stringify(up.data));
  const ds = await ok('POST', '/datasets', { name: `pds-${suffix}`, datalake_id: lake.id });
  const v = await ok('POST', `/datasets/${ds.id}/versions`, { name: 'v1', task: 'detection' });
  await ok('POST', `/dataset-versions/${v.id}/assets`, { q: 'width < 100' });
  await ok('POST', `/dataset-versions/${v.id}/labels`, { name: 'car' });
  const assets = (await ok('GET', `/dataset-versions/${v.id}/assets?limit=100`)).items;
  assert.equal(assets.length, 4);
  await ok('POST', `/dataset-versions/${v.id}/annotations`, {
    annotations: assets.map((a) => ({ asset_id: a.id, status: 'accepted', shapes: [{ kind: 'box', label: 'car', box: [10, 10, 40, 30] }] })),
  });
  return { lake: lake.id, lakeName: lake.name, ds: ds.id, dsName: ds.name, v: v.id, assets: assets.map((a) => a.id) };
}

async function runsCount() {
  return (await ok('GET', '/processing-runs?limit=1000')).items.length;
}

before(async () => {
  ids = await makeData();
  ({ browser, page } = await openAdminPage(T, { pageErrors }));
});

after(async () => {
  await browser?.close();
  assert.deepEqual(pageErrors, [], 'no errors in the page');
});

test('the catalog lists the built-ins with descriptions and targets', async () => {
  await page.getByRole('navigation').getByRole('link', { name: 'Processings' }).click();
  await page.getByRole('heading', { name: 'Processings', level: 1 }).waitFor();
  const catalog = page.getByRole('list', { name: 'Catalog' });
  for (const name of ['augment', 'dedup', 'split', 'tile', 'resize', 'autotag']) await catalog.getByRole('heading', { name, exact: true }).waitFor();
  const dedup = catalog.getByRole('listitem').filter({ has: page.getByRole('heading', { name: 'dedup', exact: true }) });
  assert.match(await dedup.textContent(), /built-in/);
  assert.match(await dedup.textContent(), /On Dataset version or Datalake/);
  const augment = catalog.getByRole('listitem').filter({ has: page.getByRole('heading', { name: 'augment', exact: true }) });
  assert.match(await augment.textContent(), /Augmented copies/);
  await screenshot('catalog');
});

test('augment: the generated form checks types and bounds, launches, and the run leads to its new version', async () => {
  const before = await runsCount();
  await page.getByRole('link', { name: 'Launch augment' }).click();
  await page.getByRole('heading', { name: 'Launch augment', level: 1 }).waitFor();
  const copies = page.getByLabel('copies', { exact: true });
  assert.equal(await copies.inputValue(), '2', 'the default is filled in');
  const copiesField = page.locator('.field').filter({ has: copies });
  assert.match(await copiesField.textContent(), /augmented copies per image/);
  assert.match(await copiesField.textContent(), /1 to 20/);
  assert.equal(await page.getByLabel('include_originals').isChecked(), true, 'a boolean is a checkbox with its default');
  assert.equal(await page.getByLabel('Runs on').inputValue(), 'dataset-version');
  await page.getByLabel('Dataset version', { exact: true }).selectOption({ label: `${ids.dsName} / v1` });
  await copies.fill('25');
  await page.getByLabel('rotate', { exact: true }).fill('ten');
  await page.getByRole('button', { name: 'Launch augment' }).click();
  await copiesField.getByText('copies must be 1 to 20, got 25.').waitFor();
  await page.locator('.field').filter({ has: page.getByLabel('rotate', { exact: true }) }).getByText("rotate must be a number, got 'ten'.").waitFor();
  await copies.fill('1.5');
  await page.getByRole('button', { name: 'Launch augment' }).click();
  await copiesField.getByText("copies must be a whole number, got '1.5'.").waitFor();
  assert.equal(await runsCount(), before, 'nothing was launched');
  await screenshot('form-errors');
  await copies.fill('1');
  await page.getByLabel('rotate', { exact: true }).fill('5');
  await page.getByLabel('seed', { exact: true }).fill('7');
  await page.getByRole('button', { name: 'Launch augment' }).click();
  await page.waitForURL(/\/processings\/runs\/\d+$/);
  const runId = Number(page.url().split('/').pop());
  await page.getByRole('heading', { name: `Run #${runId}: augment`, level: 1 }).waitFor();
  await page.getByTestId('run-progress').getByText(/^100%/).waitFor({ timeout: 60_000 });
  await page.locator('.badge').getByText('succeeded').waitFor();
  const run = await ok('GET', `/processing-runs/${runId}`);
  assert.equal(run.params.copies, 1);
  assert.equal(run.params.rotate, 5);
  assert.equal(run.params.seed, 7);
  assert.equal(run.on.id, ids.v);
  const params = await page.getByLabel('Parameter values').textContent();
  assert.match(params, /copies\s*1/);
  const out = page.getByRole('list', { name: 'Outputs' }).getByRole('link', { name: /new dataset version/ });
  const href = await out.getAttribute('href');
  const m = /^\/datasets\/(\d+)\/versions\/(\d+)$/.exec(href);
  assert.ok(m, href);
  assert.equal(Number(m[1]), ids.ds);
  const nv = await ok('GET', `/dataset-versions/${m[2]}`);
  assert.equal(nv.assets, 8, 'four originals and one copy of each');
  await page.getByRole('log', { name: 'Job log' }).waitFor();
  await screenshot('run');
  await out.click();
  await page.waitForURL(new RegExp(`/datasets/${ids.ds}/versions/${m[2]}`));
  // the runs list
  await page.goto('/processings');
  const row = page.getByRole('table', { name: 'Runs' }).getByRole('row').filter({ has: page.getByRole('link', { name: `#${runId}`, exact: true }) });
  await row.waitFor();
  assert.match(await row.textContent(), /augment/);
  assert.match(await row.textContent(), /succeeded/);
  assert.match(await row.textContent(), /100%/);
  assert.match(await row.textContent(), new RegExp(`${ids.dsName} / v1`));
});

test('from the Datalake page with a query: the catalog narrows to datalake processings, dedup tags with the query applied', async () => {
  await page.goto(`/datalake?lake=${ids.lake}&q=${encodeURIComponent('width > 100')}`);
  await page.getByRole('link', { name: 'Run a processing…' }).click();
  await page.waitForURL(/\/processings\?/);
  await page.getByRole('status').filter({ hasText: 'width > 100' }).waitFor();
  const catalog = page.getByRole('list', { name: 'Catalog' });
  await catalog.getByRole('heading', { name: 'dedup', exact: true }).waitFor();
  const names = await catalog.getByRole('heading').allTextContents();
  assert.deepEqual(names.sort(), ['autotag', 'dedup'], 'only what runs on a datalake');
  await page.getByRole('link', { name: 'Launch dedup' }).click();
  await page.getByRole('heading', { name: 'Launch dedup', level: 1 }).waitFor();
  assert.equal(await page.getByLabel('Runs on').inputValue(), 'datalake');
  assert.equal(await page.getByLabel('Datalake', { exact: true }).inputValue(), `datalake:${ids.lake}`);
  assert.equal(await page.getByLabel('Only these (query)').inputValue(), 'width > 100');
  // an enum is a select of its values
  const keep = page.getByLabel('keep', { exact: true });
  assert.deepEqual(await keep.locator('option').allTextContents(), ['largest', 'first', 'newest']);
  await page.getByLabel('max_distance', { exact: true }).fill('64');
  await page.getByRole('button', { name: 'Launch dedup' }).click();
  await page.getByText(/max_distance must be 0 to 32, got 64\./).waitFor();
  await page.getByLabel('max_distance', { exact: true }).fill('32');
  await page.getByLabel('tag', { exact: true }).fill('lookalike');
  await page.getByRole('button', { name: 'Launch dedup' }).click();
  await page.waitForURL(/\/processings\/runs\/\d+$/);
  const runId = Number(page.url().split('/').pop());
  await page.locator('.badge').getByText('succeeded').waitFor({ timeout: 60_000 });
  const run = await ok('GET', `/processing-runs/${runId}`);
  assert.equal(run.query, 'width > 100', 'the selection went as the query');
  assert.equal(run.params.max_distance, 32);
  const images = run.result.images;
  assert.equal(images, 2, 'dedup compared only the two wide images');
  const outputs = await page.getByRole('list', { name: 'Outputs' }).textContent();
  assert.match(outputs, /tag lookalike on \d+ item/);
  const see = page.getByRole('list', { name: 'Outputs' }).getByRole('link', { name: 'see them' });
  assert.equal(await see.count(), 1);
  assert.match(decodeURIComponent(await see.getAttribute('href')), /tag = "lookalike"/);
  await screenshot('dedup-run');
});

test('a picked image of a dataset version goes to the launch form as id in (...)', async () => {
  await page.goto(`/datasets/${ids.ds}/versions/${ids.v}`);
  const cell = page.locator('.vgrid-cell').first();
  await cell.waitFor();
  await cell.locator('.thumb-check').click();
  const link = page.getByRole('link', { name: 'Run a processing…' });
  await page.waitForFunction(() => decodeURIComponent((document.querySelector('a[title^="Run a processing"]')?.getAttribute('href') ?? '').replace(/\+/g, ' ')).includes('id in ('));
  const href = decodeURIComponent((await link.getAttribute('href')).replace(/\+/g, ' '));
  const m = /on=dataset-version:(\d+)&query=id in \((\d+)\)/.exec(href);
  assert.ok(m, href);
  assert.equal(Number(m[1]), ids.v);
  assert.ok(ids.assets.includes(Number(m[2])), `an asset of the version: ${m[2]}`);
  await link.click();
  await page.getByRole('link', { name: 'Launch split' }).click();
  assert.equal(await page.getByLabel('Only these (query)').inputValue(), `id in (${m[2]})`);
  assert.equal(await page.getByLabel('Dataset version', { exact: true }).inputValue(), `dataset-version:${ids.v}`);
});

test('a custom processing: defined from its manifest and a file, listed, launched (its log live), archived', async () => {
  const name = `echo-${Date.now().toString(36)}`;
  await page.goto('/processings');
  await page.getByRole('button', { name: 'New processing…' }).click();
  const dlg = page.getByRole('dialog', { name: 'New processing' });
  const manifest = (params) =>
    JSON.stringify({ name, description: 'Says hello with its parameters.', target: 'datalake', parameters: params, resources: { timeout_s: 60 }, command: ['sh', 'run.sh'] }, null, 2);
  await dlg.getByLabel('Manifest (JSON)').fill(manifest([{ name: 'count', type: 'integer', min: 5, max: 1 }]));
  await dlg.getByRole('button', { name: 'Define processing' }).click();
  await dlg.getByRole('alert').getByText(/min is larger than max/).waitFor();
  assert.ok(!(await ok('GET', '/processings')).items.some((p) => p.name === name), 'nothing defined');
  await dlg.getByLabel('Manifest (JSON)').fill('{"name": ');
  await dlg.getByRole('button', { name: 'Define processing' }).click();
  await dlg.getByRole('alert').getByText(/^The manifest is not valid JSON/).waitFor();
  await dlg.getByLabel('Manifest (JSON)').fill(
    manifest([
      { name: 'count', type: 'integer', default: 2, min: 1, max: 5, description: 'how many lines' },
      { name: 'word', type: 'string', default: 'hello', max_length: 20 },
    ]),
  );
  const script = 'set -eu\necho "params: $CVOPS_PARAMS"\necho "::progress 0.5 half way"\necho "::result {\\"ok\\": 1}"\n';
  await dlg.getByLabel('Files copied into the working directory').setInputFiles({ name: 'run.sh', mimeType: 'text/x-shellscript', buffer: Buffer.from(script) });
  await dlg.getByRole('button', { name: 'Define processing' }).click();
  await dlg.waitFor({ state: 'hidden' });
  const card = page.getByRole('list', { name: 'Catalog' }).getByRole('listitem').filter({ has: page.getByRole('heading', { name, exact: true }) });
  await card.waitFor();
  assert.match(await card.textContent(), /custom v1/);
  assert.match(await card.textContent(), /Says hello with its parameters\./);
  const def = (await ok('GET', `/processings/${name}`));
  assert.equal((def.files ?? def.processing?.files ?? []).length, 1, `the script went with it: ${JSON.stringify(def).slice(0, 300)}`);
  await page.getByRole('link', { name: `Launch ${name}` }).click();
  await page.getByLabel('Datalake', { exact: true }).selectOption(`datalake:${ids.lake}`);
  await page.getByLabel('count', { exact: true }).fill('9');
  await page.getByRole('button', { name: `Launch ${name}` }).click();
  await page.getByText('count must be 1 to 5, got 9.').waitFor();
  await page.getByLabel('count', { exact: true }).fill('4');
  await page.getByLabel('word', { exact: true }).fill('zebra');
  await page.getByRole('button', { name: `Launch ${name}` }).click();
  await page.waitForURL(/\/processings\/runs\/\d+$/);
  await page.locator('.badge').getByText('succeeded').waitFor({ timeout: 60_000 });
  const log = page.getByRole('log', { name: 'Job log' });
  await log.getByText(/params: .*"count": ?4.*"word": ?"zebra"/).waitFor();
  await page.getByText('This run made nothing.').waitFor();
  await screenshot('custom-run');
  // archived: gone from the catalog, its run still readable
  const runUrl = page.url();
  await page.goto('/processings');
  await page.getByRole('button', { name: `Archive ${name}` }).click();
  await page.getByRole('dialog', { name: `Archive ${name}?` }).getByRole('button', { name: 'Archive' }).click();
  await card.waitFor({ state: 'detached' });
  await page.goto(runUrl);
  await page.locator('.badge').getByText('succeeded').waitFor();
});
